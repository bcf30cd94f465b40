/* The stage of the scheduler benchmark: does nothing and exits 0.  Built
 * with gcc -O2 -static by run.sh so that starting it costs one exec and no
 * dynamic loading, leaving the scheduler's own overhead to be measured. */
int main(void)
{
	return 0;
}

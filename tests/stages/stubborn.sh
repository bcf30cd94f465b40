#!/bin/sh
# Test stage: ignores SIGTERM, forks a child that ignores it too, and never
# ends; writes both pids to PIDFILE so the test can check they were killed.
# Usage: stubborn.sh PIDFILE
trap '' TERM
sleep 1000 &
echo "$$ $!" > "$1"
while :; do sleep 1; done

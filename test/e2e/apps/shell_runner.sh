# A shell as the runner (test_paths.py): run as `bash shell_runner.sh NAME`
# or `dash shell_runner.sh NAME`. Builtins write in the shell's own process,
# so their lines are stored only if the preload in the shell read its
# settings; the child's lines come from a program the shell execs.
echo "$1 ok"
printf '%s\n' "$1 err ok" >&2
/bin/echo "$1 child ok"

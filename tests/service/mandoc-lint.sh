#!/bin/sh
# Usage: mandoc-lint.sh PAGE...
# Every page must pass "mandoc -Tlint" with no message at all, style included,
# except "referenced manual not found" (whether qemu-ga(8) or sd_notify(3) are
# installed on the build machine says nothing about the page) and notes about
# the system's mandoc.db.
command -v mandoc >/dev/null 2>&1 || { echo "mandoc not found: skipped"; exit 77; }
status=0
for page in "$@"; do
	out=$(mandoc -Tlint -Wall "$page" 2>&1)
	rc=$?
	msgs=$(printf '%s\n' "$out" | grep -v -e 'referenced manual not found' \
		-e 'mandoc\.db' -e '^$')
	if [ "$rc" -ge 2 ] || [ -n "$msgs" ]; then
		printf 'FAIL %s (mandoc exit %s)\n%s\n' "$page" "$rc" "$msgs"
		status=1
	else
		echo "ok   $page"
	fi
done
exit $status

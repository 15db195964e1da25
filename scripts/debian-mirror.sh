#!/bin/bash
# Print the Debian mirror this machine's apt uses (not the security one).
{
	sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
	sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
} | tr ' ' '\n' | grep -E '/debian/?$' | grep -v security | head -n 1 || true

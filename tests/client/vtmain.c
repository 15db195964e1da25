// SPDX-License-Identifier: GPL-2.0
/*
 * The main() of the test programs (vsc-functional, vsc-badinput, vsc-tmf):
 * a program defines its struct vt_suite vt_suite and its tests (VT_TEST),
 * nothing else.  In a file of its own so that libvsc.a's users with a main()
 * of their own (fuzz, bench) never link it.
 */
#include "vtest.h"

int main(int argc, char **argv)
{
	return vt_main(argc, argv, &vt_suite);
}

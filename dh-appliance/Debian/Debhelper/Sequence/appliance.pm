#!/usr/bin/perl
# dh $@ --with appliance: run dh_appliance after dh_fixperms (the seed may hold passwords: it stays 0600),
# so that its snippets and substvars are in place before dh_installdeb and dh_gencontrol.
use warnings;
use strict;
use Debian::Debhelper::Dh_Lib;

insert_after('dh_fixperms', 'dh_appliance');

1;

#!/usr/bin/env bash
# Kept for the skip messages that name it: Chromium is one of the packages ensure-system-packages.sh installs.
exec bash "$(dirname "$0")/ensure-system-packages.sh"

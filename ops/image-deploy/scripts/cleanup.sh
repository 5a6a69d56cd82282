#!/bin/sh
# Every image, last: nothing of the build stays in the image. Packer's temporary key is
# in authorized_keys; each instance must make its own host keys and machine ID; cloud-init
# must run again on first boot; package caches are dead weight.
set -eu

rm -f /root/.ssh/authorized_keys
for home in /home/*; do
    rm -f "$home/.ssh/authorized_keys"
done
rm -f /etc/ssh/ssh_host_*
if command -v cloud-init > /dev/null; then
    cloud-init clean --logs --seed
fi
rm -rf /var/lib/cloud/instances /var/lib/cloud/instance
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

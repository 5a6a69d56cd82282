#!/bin/sh
# Every image, first: the base image's security updates, applied at build time so an
# instance does not start out of date, and SSH with keys only and no root login. Packer
# runs this as root over SSH.
set -eu

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get upgrade -q -y -o Dpkg::Options::=--force-confold

# Debian's sshd_config reads sshd_config.d first, and the first value of a setting wins.
install -d -m 0755 /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/10-readyset.conf <<'CONF'
# Written by ops/image-deploy/scripts/base.sh: keys only, no root login.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PermitEmptyPasswords no
X11Forwarding no
CONF
chmod 0644 /etc/ssh/sshd_config.d/10-readyset.conf

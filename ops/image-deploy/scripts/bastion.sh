#!/bin/sh
# The bastion image: the SSH server and nothing else (base.sh has hardened it: keys
# only, no root login), enabled so it starts on every boot.
set -eu

export DEBIAN_FRONTEND=noninteractive
if [ ! -x /usr/sbin/sshd ]; then
    apt-get install -q -y --no-install-recommends openssh-server
fi
systemctl enable ssh.service

#!/bin/sh
# The server and adapter images: ReadySet from the Debian packages `amis build
# --package` uploaded, a system user for it, and the image's systemd unit. The unit
# starts only once its configuration exists; the template's UserData writes it.
# Each also gets the AWS CLI: its UserData tells CloudFormation whether the unit started
# (`cloudformation signal-resource`), and an adapter's reads the upstream database URL
# from Secrets Manager, both with the instance profile's credentials.
#
# READYSET_IMAGE      the image (readyset-server, readyset-mysql-adapter, ...)
# READYSET_PACKAGES   "<file>=<sha256> ...", as the xtask hashed them; a package whose
#                     bytes differ is refused before anything is installed
# Packages are in /tmp/readyset-packages, units in /tmp/readyset-units.
set -eu

packages=/tmp/readyset-packages
units=/tmp/readyset-units
unit="$units/$READYSET_IMAGE.service"

if [ ! -f "$unit" ]; then
    echo "readyset.sh: no unit for image $READYSET_IMAGE (expected $unit)" >&2
    exit 1
fi
if [ -z "${READYSET_PACKAGES:-}" ]; then
    echo "readyset.sh: no ReadySet package was given; pass --package <file.deb> to amis build" >&2
    exit 1
fi

# Every package is checked before any is installed.
debs=""
for entry in $READYSET_PACKAGES; do
    file=${entry%%=*}
    expected=${entry#*=}
    case $file in
        */* | "" | .*) echo "readyset.sh: bad package name '$file'" >&2; exit 1 ;;
    esac
    actual=$(sha256sum "$packages/$file" | cut -d' ' -f1)
    if [ "$actual" != "$expected" ]; then
        echo "readyset.sh: $file has sha256 $actual, but amis build recorded $expected; refusing to install it" >&2
        exit 1
    fi
    debs="$debs $packages/$file"
done

if ! getent passwd readyset > /dev/null; then
    useradd --system --user-group --home-dir /var/lib/readyset --no-create-home \
        --shell /usr/sbin/nologin --comment "ReadySet" readyset
fi

tools=awscli

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # one word per package path or tool
apt-get install -q -y --no-install-recommends $debs $tools

install -d -m 0750 -o root -g readyset /etc/readyset
install -m 0644 "$unit" "/etc/systemd/system/$READYSET_IMAGE.service"
systemctl enable "$READYSET_IMAGE.service"
rm -rf "$packages" "$units"

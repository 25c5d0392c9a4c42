#!/usr/bin/env bash
# Install LibreOffice Calc 25.x headless (+ python3-uno, the Python script provider, unoidl-write from
# libreoffice-dev, poppler-utils and metric-compatible fonts) for the LibreOffice end-to-end test.
#
# Idempotent: does nothing when a LibreOffice >= 25 with every needed piece is already installed.
# Debian bookworm ships 7.4, which cannot resolve an add-in under its Excel name: there the packages come from
# bookworm-backports, whose source entry is derived from the machine's own Debian apt source (no host is written
# here). Debian trixie or newer has 25.x in main. Quiet: apt output goes to a log printed only on failure.
set -euo pipefail

MIN_MAJOR=25
PACKAGES=(libreoffice-calc-nogui python3-uno libreoffice-script-provider-python libreoffice-dev
          poppler-utils fonts-crosextra-carlito fonts-liberation2)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-libreoffice: needs root (or sudo) to install packages" >&2; exit 1; fi
fi

installed_version() {  # the installed version of a package, or nothing
    dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '$3 == "installed" {print $4}'
}

lo_major() {  # 4:25.2.3-1~bpo12+1 -> 25
    local v; v="$(installed_version libreoffice-calc-nogui)"
    [ -n "$v" ] || v="$(installed_version libreoffice-calc)"
    v="${v#*:}"; echo "${v%%.*}"
}

already_there() {
    local major; major="$(lo_major)"
    [ -n "$major" ] && [ "$major" -ge "$MIN_MAJOR" ] 2>/dev/null || return 1
    command -v soffice >/dev/null && command -v pdftoppm >/dev/null || return 1
    [ -x /usr/lib/libreoffice/sdk/bin/unoidl-write ] || command -v unoidl-write >/dev/null || return 1
    local p
    for p in python3-uno libreoffice-script-provider-python fonts-crosextra-carlito fonts-liberation2; do
        [ -n "$(installed_version "$p")" ] || return 1
    done
}

if already_there; then
    echo "install-libreoffice: LibreOffice $(installed_version libreoffice-calc-nogui)$(installed_version libreoffice-calc) already installed"
    exit 0
fi

LOG="$(mktemp -t install-libreoffice.XXXXXX.log)"
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "install-libreoffice: failed (exit $rc); log:" >&2; tail -n 60 "$LOG" >&2; fi' EXIT

# Wait for another apt/dpkg to finish instead of failing on its lock.
APT=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

. /etc/os-release
CODENAME="${VERSION_CODENAME:-}"
TARGET=()
if [ "${ID:-}" = debian ] && [ "$CODENAME" = bookworm ]; then
    TARGET=(-t bookworm-backports)
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            # deb822: copy the stanza that carries the main suite (not security) and point it at backports.
            awk -v RS= -v ORS='\n\n' '/(^|\n)Suites:[^\n]*[[:space:]]bookworm([[:space:]]|$)/ && !/security/ {print; exit}' \
                /etc/apt/sources.list.d/debian.sources \
                | sed -E 's/^Suites:.*/Suites: bookworm-backports/' > /tmp/relhealth-backports.sources
        else
            # one-line format: the first "deb URI bookworm ..." line, suite replaced.
            grep -hE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+bookworm[[:space:]]' \
                /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 \
                | sed -E 's/[[:space:]]bookworm[[:space:]]/ bookworm-backports /' > /tmp/relhealth-backports.list
        fi
        if [ -s /tmp/relhealth-backports.sources ]; then
            $SUDO install -m 0644 /tmp/relhealth-backports.sources /etc/apt/sources.list.d/backports.sources
        elif [ -s /tmp/relhealth-backports.list ]; then
            $SUDO install -m 0644 /tmp/relhealth-backports.list /etc/apt/sources.list.d/backports.list
        else
            echo "install-libreoffice: no Debian bookworm apt source found to derive bookworm-backports from" >&2
            exit 1
        fi
        rm -f /tmp/relhealth-backports.sources /tmp/relhealth-backports.list
    fi
fi

retry() {  # apt's lock timeout covers dpkg; a concurrent `apt-get update` can still hold the lists lock
    local n
    for n in 1 2 3 4 5; do
        "$@" >>"$LOG" 2>&1 && return 0
        echo "install-libreoffice: attempt $n failed, retrying" >>"$LOG"
        sleep $((n * 10))
    done
    return 1
}

start=$SECONDS
retry "${APT[@]}" update
retry "${APT[@]}" install -y --no-install-recommends "${TARGET[@]}" "${PACKAGES[@]}"

major="$(lo_major)"
if [ -z "$major" ] || [ "$major" -lt "$MIN_MAJOR" ]; then
    echo "install-libreoffice: got LibreOffice '$(installed_version libreoffice-calc-nogui)', need >= $MIN_MAJOR" >&2
    exit 1
fi
echo "install-libreoffice: installed LibreOffice $(installed_version libreoffice-calc-nogui) in $((SECONDS - start)) s"
rm -f "$LOG"

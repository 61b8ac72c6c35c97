#!/usr/bin/env bash
# Provision a Samba AD DC for the directory tests into DIR (relocatable: only etc/smb.conf holds paths).
# Offline and loopback only: the DC listens on IP, its services that would talk to the network are off.
# Usage: build-dc.sh DIR IP        (run as root; ../shared/reference/samba-dc.md has the measured steps)
set -euo pipefail
dir="$1"
ip="$2"
here="$(cd "$(dirname "$0")" && pwd)"
realm=CONTOSO.TEST
admin_pass='Adm1n-Lab-Only!'

rm -rf "$dir"
mkdir -p "$dir"
: > "$dir/empty.conf"  # without -s, provision copies the host's /etc/samba/smb.conf settings in
samba-tool domain provision -s "$dir/empty.conf" --use-rfc2307 --realm="$realm" --domain=CONTOSO \
    --server-role=dc --dns-backend=SAMBA_INTERNAL --adminpass="$admin_pass" --targetdir="$dir" \
    --host-ip="$ip" --host-name=dc1 --option="interfaces=$ip" --option="bind interfaces only=yes" \
    --option="dns forwarder=127.0.0.1" >"$dir/provision.log" 2>&1
rm -f "$dir/empty.conf"

# Keep every file private to DIR and every packet on loopback (no NetBIOS, no DNS updates, no WINS).
python3 - "$dir/etc/smb.conf" "$dir" <<'PY'
import sys
conf, d = sys.argv[1], sys.argv[2]
extra = {
    "pid directory": f"{d}/run", "ncalrpc dir": f"{d}/run/ncalrpc",
    "winbindd socket directory": f"{d}/run/winbindd", "ntp signd socket directory": f"{d}/run/ntp_signd",
    "smb passwd file": f"{d}/private/smbpasswd", "usershare path": f"{d}/usershares",
    "log file": f"{d}/log/samba.log", "disable netbios": "yes",
    "server services": "-dnsupdate -nbt -wrepl -dns -ntp_signd -kcc -drepl -winbindd -smb -s3fs -rpc",
    "dns update command": "/bin/true", "spn update command": "/bin/true",
    "ldap server require strong auth": "allow_sasl_over_tls",
    "kerberos encryption types": "all",
}
text = open(conf, encoding="utf-8").read()
lines = "".join(f"\t{k} = {v}\n" for k, v in extra.items())
text = text.replace("[global]\n", "[global]\n" + lines, 1)
open(conf, "w", encoding="utf-8").write(text)
PY
mkdir -p "$dir/run" "$dir/log" "$dir/usershares"

# Users, OUs, groups and ACEs the tests read (one samba-python process on sam.ldb: no server needed).
/usr/bin/python3 "$here/seed.py" "$dir/etc/smb.conf"

# Their keytab, for the lab's Kerberos acceptor (KRB5_KTNAME).
for service in HTTP WSMAN host; do
    for host in aadc01.contoso.test aadc02.contoso.test 127.0.0.11 127.0.0.12; do
        samba-tool domain exportkeytab "$dir/private/http.keytab" --principal="$service/$host" \
            -s "$dir/etc/smb.conf" >/dev/null
    done
done

hadeploy_main() {
echo "==os"; cat /etc/os-release 2>/dev/null; echo "==endos"
hn=; { read -r hn < /etc/hostname; } 2>/dev/null; printf '==hostname %s\n' "$hn"
stat -c '==mode %a %U:%G %n' /etc/rsyslog.d/10-hadeploy-haproxy.conf /etc/haproxy/haproxy.cfg /usr/local/libexec/hadeploy/haproxy-watch /etc/systemd/system/haproxy.service.d/10-hadeploy.conf /usr/local/libexec/hadeploy/check-haproxy /usr/local/libexec/hadeploy/vrrp-notify /etc/keepalived/hadeploy-webhook.curlrc /etc/keepalived/keepalived.conf /usr/local/libexec/hadeploy/keepalived-handover /etc/systemd/system/keepalived.service.d/10-hadeploy.conf /etc/cron.d/hadeploy-timesync 2>/dev/null
for p in /etc/rsyslog.d/10-hadeploy-haproxy.conf /etc/haproxy/haproxy.cfg /usr/local/libexec/hadeploy/haproxy-watch /etc/systemd/system/haproxy.service.d/10-hadeploy.conf /usr/local/libexec/hadeploy/check-haproxy /usr/local/libexec/hadeploy/vrrp-notify /etc/keepalived/hadeploy-webhook.curlrc /etc/keepalived/keepalived.conf /usr/local/libexec/hadeploy/keepalived-handover /etc/systemd/system/keepalived.service.d/10-hadeploy.conf /etc/cron.d/hadeploy-timesync; do if [ -f "$p" ]; then printf '==file %s\n' "$p"; base64 -w0 "$p"; echo; else printf '==nofile %s\n' "$p"; fi; done
if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='==pkg ${Package} ${Status}\n' rsyslog haproxy socat keepalived cron ntpdate ntpsec-ntpdate cronie chrony 2>/dev/null; else rpm -q --qf '==pkg %{NAME} install ok installed\n' rsyslog haproxy socat keepalived cron ntpdate ntpsec-ntpdate cronie chrony 2>/dev/null | grep '^==pkg'; fi
systemctl show -p Id,ActiveState,UnitFileState rsyslog.service haproxy.service keepalived.service cron.service crond.service 2>/dev/null | sed 's/^/==unit /'
ip -o -4 addr show 2>/dev/null | while read -r _ _ _ a _; do echo "==addr $a"; done
if command -v haproxy >/dev/null 2>&1; then haproxy -vv 2>/dev/null | awk '/^HAProxy version/ {v=$3} /^Available services/ {sub(/^[^:]*: */, ""); s=$0} END {print "==haproxy " v " " s}'; fi
for d in /var/backups/hadeploy/*/; do [ -f "${d}status" ] || continue; st=; m=; { read -r st < "${d}status"; } 2>/dev/null; { read -r m < "${d}meta"; } 2>/dev/null; d=${d%/}; printf '==run %s %s %.300s\n' "${d##*/}" "$st" "$m"; done
[ -d /var/lib/hadeploy ] || mkdir -p /var/lib/hadeploy
if [ -d /var/lib/hadeploy/lock.break ] && [ -n "$(find /var/lib/hadeploy/lock.break -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rmdir /var/lib/hadeploy/lock.break 2>/dev/null; fi
if [ -d /var/lib/hadeploy/lock ] && mkdir /var/lib/hadeploy/lock.break 2>/dev/null; then if [ -n "$(find /var/lib/hadeploy/lock -maxdepth 0 -mmin +60 2>/dev/null)" ]; then echo "==lockexpired $(cat /var/lib/hadeploy/lock/info 2>/dev/null)"; rm -rf /var/lib/hadeploy/lock; fi; rmdir /var/lib/hadeploy/lock.break; fi
if mkdir /var/lib/hadeploy/lock 2>/dev/null; then printf '%s\n' 'run R by root@here' > /var/lib/hadeploy/lock/info; echo "==lock taken"; else printf '==lock held %s\n' "$(cat /var/lib/hadeploy/lock/info 2>/dev/null)"; fi
}
hadeploy_main

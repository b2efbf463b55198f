hadeploy_main() {
echo "==os"; cat /etc/os-release 2>/dev/null; echo "==endos"
printf '==hostname %s\n' "$(cat /etc/hostname 2>/dev/null)"
if [ -f /etc/apache2/ports.conf ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/apache2/ports.conf)" /etc/apache2/ports.conf; base64 -w0 /etc/apache2/ports.conf; echo; else printf '==nofile %s\n' /etc/apache2/ports.conf; fi
if [ -f /etc/apache2/sites-available/000-default.conf ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/apache2/sites-available/000-default.conf)" /etc/apache2/sites-available/000-default.conf; base64 -w0 /etc/apache2/sites-available/000-default.conf; echo; else printf '==nofile %s\n' /etc/apache2/sites-available/000-default.conf; fi
if [ -f /var/www/html/index.html ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /var/www/html/index.html)" /var/www/html/index.html; base64 -w0 /var/www/html/index.html; echo; else printf '==nofile %s\n' /var/www/html/index.html; fi
if [ -f /etc/cron.d/hadeploy-timesync ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/cron.d/hadeploy-timesync)" /etc/cron.d/hadeploy-timesync; base64 -w0 /etc/cron.d/hadeploy-timesync; echo; else printf '==nofile %s\n' /etc/cron.d/hadeploy-timesync; fi
if [ -f /etc/rsyslog.d/10-hadeploy-haproxy.conf ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/rsyslog.d/10-hadeploy-haproxy.conf)" /etc/rsyslog.d/10-hadeploy-haproxy.conf; base64 -w0 /etc/rsyslog.d/10-hadeploy-haproxy.conf; echo; else printf '==nofile %s\n' /etc/rsyslog.d/10-hadeploy-haproxy.conf; fi
if [ -f /etc/haproxy/haproxy.cfg ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/haproxy/haproxy.cfg)" /etc/haproxy/haproxy.cfg; base64 -w0 /etc/haproxy/haproxy.cfg; echo; else printf '==nofile %s\n' /etc/haproxy/haproxy.cfg; fi
if [ -f /etc/systemd/system/haproxy.service.d/10-hadeploy.conf ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/systemd/system/haproxy.service.d/10-hadeploy.conf)" /etc/systemd/system/haproxy.service.d/10-hadeploy.conf; base64 -w0 /etc/systemd/system/haproxy.service.d/10-hadeploy.conf; echo; else printf '==nofile %s\n' /etc/systemd/system/haproxy.service.d/10-hadeploy.conf; fi
if [ -f /usr/local/libexec/hadeploy/check-haproxy ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /usr/local/libexec/hadeploy/check-haproxy)" /usr/local/libexec/hadeploy/check-haproxy; base64 -w0 /usr/local/libexec/hadeploy/check-haproxy; echo; else printf '==nofile %s\n' /usr/local/libexec/hadeploy/check-haproxy; fi
if [ -f /etc/keepalived/keepalived.conf ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/keepalived/keepalived.conf)" /etc/keepalived/keepalived.conf; base64 -w0 /etc/keepalived/keepalived.conf; echo; else printf '==nofile %s\n' /etc/keepalived/keepalived.conf; fi
if [ -f /etc/httpd/conf/httpd.conf ]; then printf '==file %s %s\n' "$(stat -c '%a %U:%G' /etc/httpd/conf/httpd.conf)" /etc/httpd/conf/httpd.conf; base64 -w0 /etc/httpd/conf/httpd.conf; echo; else printf '==nofile %s\n' /etc/httpd/conf/httpd.conf; fi
if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='==pkg ${Package} ${Status}\n' apache2 cron ntpdate rsyslog haproxy socat keepalived httpd cronie chrony 2>/dev/null; else rpm -q --qf '==pkg %{NAME} install ok installed\n' apache2 cron ntpdate rsyslog haproxy socat keepalived httpd cronie chrony 2>/dev/null | grep '^==pkg'; fi
systemctl show -p Id,ActiveState,UnitFileState apache2.service cron.service rsyslog.service haproxy.service keepalived.service httpd.service crond.service 2>/dev/null | sed 's/^/==unit /'
ip -o -4 addr show 2>/dev/null | while read -r _ _ _ a _; do echo "==addr $a"; done
for d in /var/backups/hadeploy/*/; do [ -f "$d/status" ] || continue; printf '==run %s %s %s\n' "$(basename "$d")" "$(cat "$d/status")" "$(head -c 300 "$d/meta" 2>/dev/null | tr '\n' ' ')"; done
mkdir -p /var/lib/hadeploy
if [ -n "$(find /var/lib/hadeploy/lock.break -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rmdir /var/lib/hadeploy/lock.break 2>/dev/null; fi
if [ -d /var/lib/hadeploy/lock ] && mkdir /var/lib/hadeploy/lock.break 2>/dev/null; then if [ -n "$(find /var/lib/hadeploy/lock -maxdepth 0 -mmin +60 2>/dev/null)" ]; then echo "==lockexpired $(cat /var/lib/hadeploy/lock/info 2>/dev/null)"; rm -rf /var/lib/hadeploy/lock; fi; rmdir /var/lib/hadeploy/lock.break; fi
if mkdir /var/lib/hadeploy/lock 2>/dev/null; then printf '%s\n' 'run R by root@here' > /var/lib/hadeploy/lock/info; echo "==lock taken"; else printf '==lock held %s\n' "$(cat /var/lib/hadeploy/lock/info 2>/dev/null)"; fi
}
hadeploy_main

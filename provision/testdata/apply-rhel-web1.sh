# step web
hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
R=/var/backups/hadeploy/R1
echo "begin "web >> "$R/journal"
mkdir -p /etc/httpd/conf
base64 -d > /etc/httpd/conf/.httpd.conf.hadeploy-new0 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /etc/httpd/conf/.httpd.conf.hadeploy-new0 && chown root:root /etc/httpd/conf/.httpd.conf.hadeploy-new0
mkdir -p /var/www/html
base64 -d > /var/www/html/.index.html.hadeploy-new1 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /var/www/html/.index.html.hadeploy-new1 && chown root:root /var/www/html/.index.html.hadeploy-new1
if [ ! -e /var/backups/hadeploy/R1/files/etc/httpd/conf/httpd.conf ] && ! grep -qxF 'file /etc/httpd/conf/httpd.conf absent' "$R/journal"; then
  if [ -e /etc/httpd/conf/httpd.conf ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/httpd/conf && cp -a /etc/httpd/conf/httpd.conf /var/backups/hadeploy/R1/files/etc/httpd/conf/httpd.conf && printf '%s %s %s\n' "$(sha256sum < /etc/httpd/conf/httpd.conf | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/httpd/conf/httpd.conf)" /etc/httpd/conf/httpd.conf >> "$R/manifest" && echo "file "/etc/httpd/conf/httpd.conf" backup" >> "$R/journal"; else echo "file "/etc/httpd/conf/httpd.conf" absent" >> "$R/journal"; fi
fi
sync /etc/httpd/conf/.httpd.conf.hadeploy-new0 2>/dev/null; mv -f /etc/httpd/conf/.httpd.conf.hadeploy-new0 /etc/httpd/conf/httpd.conf
if [ ! -e /var/backups/hadeploy/R1/files/var/www/html/index.html ] && ! grep -qxF 'file /var/www/html/index.html absent' "$R/journal"; then
  if [ -e /var/www/html/index.html ]; then mkdir -p /var/backups/hadeploy/R1/files/var/www/html && cp -a /var/www/html/index.html /var/backups/hadeploy/R1/files/var/www/html/index.html && printf '%s %s %s\n' "$(sha256sum < /var/www/html/index.html | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /var/www/html/index.html)" /var/www/html/index.html >> "$R/manifest" && echo "file "/var/www/html/index.html" backup" >> "$R/journal"; else echo "file "/var/www/html/index.html" absent" >> "$R/journal"; fi
fi
sync /var/www/html/.index.html.hadeploy-new1 2>/dev/null; mv -f /var/www/html/.index.html.hadeploy-new1 /var/www/html/index.html
if ! out=$(httpd -t 2>&1); then
  if [ -e /var/backups/hadeploy/R1/files/etc/httpd/conf/httpd.conf ]; then cp -a /var/backups/hadeploy/R1/files/etc/httpd/conf/httpd.conf /etc/httpd/conf/httpd.conf.hadeploy-restore && mv -f /etc/httpd/conf/httpd.conf.hadeploy-restore /etc/httpd/conf/httpd.conf; else rm -f /etc/httpd/conf/httpd.conf; fi
  if [ -e /var/backups/hadeploy/R1/files/var/www/html/index.html ]; then cp -a /var/backups/hadeploy/R1/files/var/www/html/index.html /var/www/html/index.html.hadeploy-restore && mv -f /var/www/html/index.html.hadeploy-restore /var/www/html/index.html; else rm -f /var/www/html/index.html; fi
  echo "==fail check"; printf '%s\n' "$out"; exit 11; fi
echo "service "httpd" $(systemctl is-active httpd 2>/dev/null | head -n1) $(systemctl is-enabled httpd 2>/dev/null | head -n1)" >> "$R/journal"
systemctl enable -q httpd 2>&1 || true
if ! out=$(systemctl start httpd 2>&1); then echo "==fail service httpd: systemctl start"; printf '%s\n' "$out"; systemctl status --no-pager -n 15 httpd 2>&1 | tail -n 15; exit 12; fi
i=0; while ! { systemctl is-active -q httpd && ss -Hltnp 'sport = :8080' 2>/dev/null | grep -qF '"httpd"'; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail service web: not serving after 10s"; systemctl status --no-pager -n 10 httpd 2>&1 | tail -n 12; echo 'listening on port 8080:'; ss -Hltnp 'sport = :8080' 2>/dev/null;  exit 12; fi; sleep 0.25; done
echo "done "web >> "$R/journal"
}
hadeploy_main

# step timesync
hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
R=/var/backups/hadeploy/R1
echo "begin "timesync >> "$R/journal"
mkdir -p /etc/cron.d
base64 -d > /etc/cron.d/.hadeploy-timesync.hadeploy-new0 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /etc/cron.d/.hadeploy-timesync.hadeploy-new0 && chown root:root /etc/cron.d/.hadeploy-timesync.hadeploy-new0
if [ ! -e /var/backups/hadeploy/R1/files/etc/cron.d/hadeploy-timesync ] && ! grep -qxF 'file /etc/cron.d/hadeploy-timesync absent' "$R/journal"; then
  if [ -e /etc/cron.d/hadeploy-timesync ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/cron.d && cp -a /etc/cron.d/hadeploy-timesync /var/backups/hadeploy/R1/files/etc/cron.d/hadeploy-timesync && printf '%s %s %s\n' "$(sha256sum < /etc/cron.d/hadeploy-timesync | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/cron.d/hadeploy-timesync)" /etc/cron.d/hadeploy-timesync >> "$R/manifest" && echo "file "/etc/cron.d/hadeploy-timesync" backup" >> "$R/journal"; else echo "file "/etc/cron.d/hadeploy-timesync" absent" >> "$R/journal"; fi
fi
sync /etc/cron.d/.hadeploy-timesync.hadeploy-new0 2>/dev/null; mv -f /etc/cron.d/.hadeploy-timesync.hadeploy-new0 /etc/cron.d/hadeploy-timesync
echo "service "crond" $(systemctl is-active crond 2>/dev/null | head -n1) $(systemctl is-enabled crond 2>/dev/null | head -n1)" >> "$R/journal"
systemctl enable -q crond 2>&1 || true
if ! out=$(systemctl start crond 2>&1); then echo "==fail service crond: systemctl start"; printf '%s\n' "$out"; systemctl status --no-pager -n 15 crond 2>&1 | tail -n 15; exit 12; fi
i=0; while ! { systemctl is-active -q crond; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail service timesync: not serving after 10s"; systemctl status --no-pager -n 10 crond 2>&1 | tail -n 12;  exit 12; fi; sleep 0.25; done
echo "done "timesync >> "$R/journal"
}
hadeploy_main


# step rsyslog
hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
R=/var/backups/hadeploy/R1
echo "begin "rsyslog >> "$R/journal"
mkdir -p /etc/rsyslog.d
base64 -d > /etc/rsyslog.d/.10-hadeploy-haproxy.conf.hadeploy-new0 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /etc/rsyslog.d/.10-hadeploy-haproxy.conf.hadeploy-new0 && chown root:root /etc/rsyslog.d/.10-hadeploy-haproxy.conf.hadeploy-new0
if [ ! -e /var/backups/hadeploy/R1/files/etc/rsyslog.d/10-hadeploy-haproxy.conf ] && ! grep -qxF 'file /etc/rsyslog.d/10-hadeploy-haproxy.conf absent' "$R/journal"; then
  if [ -e /etc/rsyslog.d/10-hadeploy-haproxy.conf ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/rsyslog.d && cp -a /etc/rsyslog.d/10-hadeploy-haproxy.conf /var/backups/hadeploy/R1/files/etc/rsyslog.d/10-hadeploy-haproxy.conf && printf '%s %s %s\n' "$(sha256sum < /etc/rsyslog.d/10-hadeploy-haproxy.conf | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/rsyslog.d/10-hadeploy-haproxy.conf)" /etc/rsyslog.d/10-hadeploy-haproxy.conf >> "$R/manifest" && echo "file "/etc/rsyslog.d/10-hadeploy-haproxy.conf" backup" >> "$R/journal"; else echo "file "/etc/rsyslog.d/10-hadeploy-haproxy.conf" absent" >> "$R/journal"; fi
fi
sync /etc/rsyslog.d/.10-hadeploy-haproxy.conf.hadeploy-new0 2>/dev/null; mv -f /etc/rsyslog.d/.10-hadeploy-haproxy.conf.hadeploy-new0 /etc/rsyslog.d/10-hadeploy-haproxy.conf
if ! out=$(rsyslogd -N1 2>&1); then
  if [ -e /var/backups/hadeploy/R1/files/etc/rsyslog.d/10-hadeploy-haproxy.conf ]; then cp -a /var/backups/hadeploy/R1/files/etc/rsyslog.d/10-hadeploy-haproxy.conf /etc/rsyslog.d/10-hadeploy-haproxy.conf.hadeploy-restore && mv -f /etc/rsyslog.d/10-hadeploy-haproxy.conf.hadeploy-restore /etc/rsyslog.d/10-hadeploy-haproxy.conf; else rm -f /etc/rsyslog.d/10-hadeploy-haproxy.conf; fi
  echo "==fail check"; printf '%s\n' "$out"; exit 11; fi
echo "service "rsyslog" $(systemctl is-active rsyslog 2>/dev/null | head -n1) $(systemctl is-enabled rsyslog 2>/dev/null | head -n1)" >> "$R/journal"
systemctl enable -q rsyslog 2>&1 || true
if ! out=$(systemctl start rsyslog 2>&1); then echo "==fail service rsyslog: systemctl start"; printf '%s\n' "$out"; systemctl status --no-pager -n 15 rsyslog 2>&1 | tail -n 15; exit 12; fi
i=0; while ! { systemctl is-active -q rsyslog && ss -Hlunp 'sport = :514' 2>/dev/null | grep -qF '"rsyslogd"'; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail service rsyslog: not serving after 10s"; systemctl status --no-pager -n 10 rsyslog 2>&1 | tail -n 12; echo 'listening on port 514:'; ss -Hlunp 'sport = :514' 2>/dev/null;  exit 12; fi; sleep 0.25; done
echo "done "rsyslog >> "$R/journal"
}
hadeploy_main

# step haproxy
hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
R=/var/backups/hadeploy/R1
echo "begin "haproxy >> "$R/journal"
mkdir -p /etc/haproxy
base64 -d > /etc/haproxy/.haproxy.cfg.hadeploy-new0 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /etc/haproxy/.haproxy.cfg.hadeploy-new0 && chown root:root /etc/haproxy/.haproxy.cfg.hadeploy-new0
if ! out=$(haproxy -c -f /etc/haproxy/.haproxy.cfg.hadeploy-new0 2>&1); then rm -f /etc/haproxy/.haproxy.cfg.hadeploy-new0 /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2; echo "==fail validate /etc/haproxy/haproxy.cfg"; printf '%s\n' "$out"; exit 10; fi
if [ ! -e /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg ] && ! grep -qxF 'file /etc/haproxy/haproxy.cfg absent' "$R/journal"; then
  if [ -e /etc/haproxy/haproxy.cfg ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/haproxy && cp -a /etc/haproxy/haproxy.cfg /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg && printf '%s %s %s\n' "$(sha256sum < /etc/haproxy/haproxy.cfg | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/haproxy/haproxy.cfg)" /etc/haproxy/haproxy.cfg >> "$R/manifest" && echo "file "/etc/haproxy/haproxy.cfg" backup" >> "$R/journal"; else echo "file "/etc/haproxy/haproxy.cfg" absent" >> "$R/journal"; fi
fi
sync /etc/haproxy/.haproxy.cfg.hadeploy-new0 2>/dev/null; mv -f /etc/haproxy/.haproxy.cfg.hadeploy-new0 /etc/haproxy/haproxy.cfg
mkdir -p /usr/local/libexec/hadeploy
base64 -d > /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 755 /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 && chown root:root /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1
if ! out=$(sh -n /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 2>&1); then rm -f /etc/haproxy/.haproxy.cfg.hadeploy-new0 /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2; echo "==fail validate /usr/local/libexec/hadeploy/haproxy-watch"; printf '%s\n' "$out"; exit 10; fi
if [ ! -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/haproxy-watch ] && ! grep -qxF 'file /usr/local/libexec/hadeploy/haproxy-watch absent' "$R/journal"; then
  if [ -e /usr/local/libexec/hadeploy/haproxy-watch ]; then mkdir -p /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy && cp -a /usr/local/libexec/hadeploy/haproxy-watch /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/haproxy-watch && printf '%s %s %s\n' "$(sha256sum < /usr/local/libexec/hadeploy/haproxy-watch | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /usr/local/libexec/hadeploy/haproxy-watch)" /usr/local/libexec/hadeploy/haproxy-watch >> "$R/manifest" && echo "file "/usr/local/libexec/hadeploy/haproxy-watch" backup" >> "$R/journal"; else echo "file "/usr/local/libexec/hadeploy/haproxy-watch" absent" >> "$R/journal"; fi
fi
sync /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 2>/dev/null; mv -f /usr/local/libexec/hadeploy/.haproxy-watch.hadeploy-new1 /usr/local/libexec/hadeploy/haproxy-watch
mkdir -p /etc/systemd/system/haproxy.service.d
base64 -d > /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2 && chown root:root /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2
if [ ! -e /var/backups/hadeploy/R1/files/etc/systemd/system/haproxy.service.d/10-hadeploy.conf ] && ! grep -qxF 'file /etc/systemd/system/haproxy.service.d/10-hadeploy.conf absent' "$R/journal"; then
  if [ -e /etc/systemd/system/haproxy.service.d/10-hadeploy.conf ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/systemd/system/haproxy.service.d && cp -a /etc/systemd/system/haproxy.service.d/10-hadeploy.conf /var/backups/hadeploy/R1/files/etc/systemd/system/haproxy.service.d/10-hadeploy.conf && printf '%s %s %s\n' "$(sha256sum < /etc/systemd/system/haproxy.service.d/10-hadeploy.conf | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/systemd/system/haproxy.service.d/10-hadeploy.conf)" /etc/systemd/system/haproxy.service.d/10-hadeploy.conf >> "$R/manifest" && echo "file "/etc/systemd/system/haproxy.service.d/10-hadeploy.conf" backup" >> "$R/journal"; else echo "file "/etc/systemd/system/haproxy.service.d/10-hadeploy.conf" absent" >> "$R/journal"; fi
fi
sync /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2 2>/dev/null; mv -f /etc/systemd/system/haproxy.service.d/.10-hadeploy.conf.hadeploy-new2 /etc/systemd/system/haproxy.service.d/10-hadeploy.conf
echo "activate "c3lzdGVtY3RsIGRhZW1vbi1yZWxvYWQgJiYgeyBbICEgLXggL3Vzci9sb2NhbC9saWJleGVjL2hhZGVwbG95L2hhcHJveHktd2F0Y2ggXSB8fCAvdXNyL2xvY2FsL2xpYmV4ZWMvaGFkZXBsb3kvaGFwcm94eS13YXRjaDsgfSAmJiB7IGlmIGVjaG8gJ3Nob3cgc2VydmVycyBzdGF0ZScgfCB0aW1lb3V0IDMgc29jYXQgc3RkaW8gVU5JWC1DT05ORUNUOi9ydW4vaGFwcm94eS9hZG1pbi5zb2NrID4gL3Zhci9saWIvaGFwcm94eS9zZXJ2ZXItc3RhdGUudG1wIDI+L2Rldi9udWxsICYmIGF3ayAnTlIgPT0gRk5SIHsgaWYgKCQxID09ICJiYWNrZW5kIikgYiA9ICQyOyBlbHNlIGlmICgkMSA9PSAic2VydmVyIiAmJiBiICE9ICIiICYmIChpID0gbWF0Y2goJDMsIC86WzAtOV0rJC8pKSkgeyBhZGRyW2IgIiAiICQyXSA9IHN1YnN0cigkMywgMSwgaSAtIDEpOyBwb3J0W2IgIiAiICQyXSA9IHN1YnN0cigkMywgaSArIDEpIH07IG5leHQgfSBGTlIgPT0gMSB8fCAvXiMvIHsgcHJpbnQ7IG5leHQgfSAoKCQyICIgIiAkNCkgaW4gcG9ydCkgJiYgcG9ydFskMiAiICIgJDRdID09ICQxOSAmJiAoYWRkclskMiAiICIgJDRdID09ICQ1IHx8IGFkZHJbJDIgIiAiICQ0XSA9PSAkMTgpIHsgcHJpbnQgfScgL2V0Yy9oYXByb3h5L2hhcHJveHkuY2ZnIC92YXIvbGliL2hhcHJveHkvc2VydmVyLXN0YXRlLnRtcCA+IC92YXIvbGliL2hhcHJveHkvc2VydmVyLXN0YXRlLmtlcHQ7IHRoZW4gbXYgLWYgL3Zhci9saWIvaGFwcm94eS9zZXJ2ZXItc3RhdGUua2VwdCAvdmFyL2xpYi9oYXByb3h5L3NlcnZlci1zdGF0ZTsgZWxzZSBybSAtZiAvdmFyL2xpYi9oYXByb3h5L3NlcnZlci1zdGF0ZS5rZXB0OyBbIC1lIC92YXIvbGliL2hhcHJveHkvc2VydmVyLXN0YXRlIF0gfHwgOiA+IC92YXIvbGliL2hhcHJveHkvc2VydmVyLXN0YXRlOyBmaTsgcm0gLWYgL3Zhci9saWIvaGFwcm94eS9zZXJ2ZXItc3RhdGUudG1wOyB9 >> "$R/journal"
if ! out=$( { systemctl daemon-reload && { [ ! -x /usr/local/libexec/hadeploy/haproxy-watch ] || /usr/local/libexec/hadeploy/haproxy-watch; } && { if echo 'show servers state' | timeout 3 socat stdio UNIX-CONNECT:/run/haproxy/admin.sock > /var/lib/haproxy/server-state.tmp 2>/dev/null && awk 'NR == FNR { if ($1 == "backend") b = $2; else if ($1 == "server" && b != "" && (i = match($3, /:[0-9]+$/))) { addr[b " " $2] = substr($3, 1, i - 1); port[b " " $2] = substr($3, i + 1) }; next } FNR == 1 || /^#/ { print; next } (($2 " " $4) in port) && port[$2 " " $4] == $19 && (addr[$2 " " $4] == $5 || addr[$2 " " $4] == $18) { print }' /etc/haproxy/haproxy.cfg /var/lib/haproxy/server-state.tmp > /var/lib/haproxy/server-state.kept; then mv -f /var/lib/haproxy/server-state.kept /var/lib/haproxy/server-state; else rm -f /var/lib/haproxy/server-state.kept; [ -e /var/lib/haproxy/server-state ] || : > /var/lib/haproxy/server-state; fi; rm -f /var/lib/haproxy/server-state.tmp; }; } 2>&1); then
  if [ -e /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg ]; then cp -a /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.hadeploy-restore && mv -f /etc/haproxy/haproxy.cfg.hadeploy-restore /etc/haproxy/haproxy.cfg; else rm -f /etc/haproxy/haproxy.cfg; fi
  if [ -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/haproxy-watch ]; then cp -a /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/haproxy-watch /usr/local/libexec/hadeploy/haproxy-watch.hadeploy-restore && mv -f /usr/local/libexec/hadeploy/haproxy-watch.hadeploy-restore /usr/local/libexec/hadeploy/haproxy-watch; else rm -f /usr/local/libexec/hadeploy/haproxy-watch; fi
  if [ -e /var/backups/hadeploy/R1/files/etc/systemd/system/haproxy.service.d/10-hadeploy.conf ]; then cp -a /var/backups/hadeploy/R1/files/etc/systemd/system/haproxy.service.d/10-hadeploy.conf /etc/systemd/system/haproxy.service.d/10-hadeploy.conf.hadeploy-restore && mv -f /etc/systemd/system/haproxy.service.d/10-hadeploy.conf.hadeploy-restore /etc/systemd/system/haproxy.service.d/10-hadeploy.conf; else rm -f /etc/systemd/system/haproxy.service.d/10-hadeploy.conf; fi
  { systemctl daemon-reload && { [ ! -x /usr/local/libexec/hadeploy/haproxy-watch ] || /usr/local/libexec/hadeploy/haproxy-watch; } && { if echo 'show servers state' | timeout 3 socat stdio UNIX-CONNECT:/run/haproxy/admin.sock > /var/lib/haproxy/server-state.tmp 2>/dev/null && awk 'NR == FNR { if ($1 == "backend") b = $2; else if ($1 == "server" && b != "" && (i = match($3, /:[0-9]+$/))) { addr[b " " $2] = substr($3, 1, i - 1); port[b " " $2] = substr($3, i + 1) }; next } FNR == 1 || /^#/ { print; next } (($2 " " $4) in port) && port[$2 " " $4] == $19 && (addr[$2 " " $4] == $5 || addr[$2 " " $4] == $18) { print }' /etc/haproxy/haproxy.cfg /var/lib/haproxy/server-state.tmp > /var/lib/haproxy/server-state.kept; then mv -f /var/lib/haproxy/server-state.kept /var/lib/haproxy/server-state; else rm -f /var/lib/haproxy/server-state.kept; [ -e /var/lib/haproxy/server-state ] || : > /var/lib/haproxy/server-state; fi; rm -f /var/lib/haproxy/server-state.tmp; }; } >/dev/null 2>&1; echo "==fail activate"; printf '%s\n' "$out"; exit 13; fi
echo "service "haproxy" $(systemctl is-active haproxy 2>/dev/null | head -n1) $(systemctl is-enabled haproxy 2>/dev/null | head -n1)" >> "$R/journal"
if ! out=$(systemctl reload haproxy 2>&1); then echo "==fail service haproxy: systemctl reload"; printf '%s\n' "$out"; systemctl status --no-pager -n 15 haproxy 2>&1 | tail -n 15; exit 12; fi
i=0; while ! { systemctl is-active -q haproxy && ss -Hltnp 'sport = :80' 2>/dev/null | grep -qF '"haproxy"'; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail service haproxy: not serving after 10s"; systemctl status --no-pager -n 10 haproxy 2>&1 | tail -n 12; echo 'listening on port 80:'; ss -Hltnp 'sport = :80' 2>/dev/null;  exit 12; fi; sleep 0.25; done
echo "done "haproxy >> "$R/journal"
}
hadeploy_main

# step keepalived
hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
R=/var/backups/hadeploy/R1
echo "begin "keepalived >> "$R/journal"
mkdir -p /usr/local/libexec/hadeploy
base64 -d > /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 755 /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 && chown root:root /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0
if [ ! -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/check-haproxy ] && ! grep -qxF 'file /usr/local/libexec/hadeploy/check-haproxy absent' "$R/journal"; then
  if [ -e /usr/local/libexec/hadeploy/check-haproxy ]; then mkdir -p /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy && cp -a /usr/local/libexec/hadeploy/check-haproxy /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/check-haproxy && printf '%s %s %s\n' "$(sha256sum < /usr/local/libexec/hadeploy/check-haproxy | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /usr/local/libexec/hadeploy/check-haproxy)" /usr/local/libexec/hadeploy/check-haproxy >> "$R/manifest" && echo "file "/usr/local/libexec/hadeploy/check-haproxy" backup" >> "$R/journal"; else echo "file "/usr/local/libexec/hadeploy/check-haproxy" absent" >> "$R/journal"; fi
fi
sync /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 2>/dev/null; mv -f /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 /usr/local/libexec/hadeploy/check-haproxy
mkdir -p /usr/local/libexec/hadeploy
base64 -d > /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 755 /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 && chown root:root /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1
if ! out=$(bash -n /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 2>&1); then rm -f /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 /etc/keepalived/.keepalived.conf.hadeploy-new3 /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5; echo "==fail validate /usr/local/libexec/hadeploy/vrrp-notify"; printf '%s\n' "$out"; exit 10; fi
if [ ! -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/vrrp-notify ] && ! grep -qxF 'file /usr/local/libexec/hadeploy/vrrp-notify absent' "$R/journal"; then
  if [ -e /usr/local/libexec/hadeploy/vrrp-notify ]; then mkdir -p /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy && cp -a /usr/local/libexec/hadeploy/vrrp-notify /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/vrrp-notify && printf '%s %s %s\n' "$(sha256sum < /usr/local/libexec/hadeploy/vrrp-notify | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /usr/local/libexec/hadeploy/vrrp-notify)" /usr/local/libexec/hadeploy/vrrp-notify >> "$R/manifest" && echo "file "/usr/local/libexec/hadeploy/vrrp-notify" backup" >> "$R/journal"; else echo "file "/usr/local/libexec/hadeploy/vrrp-notify" absent" >> "$R/journal"; fi
fi
sync /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 2>/dev/null; mv -f /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 /usr/local/libexec/hadeploy/vrrp-notify
mkdir -p /etc/keepalived
hadeploy_umask=$(umask); umask 077
base64 -d > /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
umask "$hadeploy_umask"
chmod 600 /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 && chown root:root /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2
if [ ! -e /var/backups/hadeploy/R1/files/etc/keepalived/hadeploy-webhook.curlrc ] && ! grep -qxF 'file /etc/keepalived/hadeploy-webhook.curlrc absent' "$R/journal"; then
  if [ -e /etc/keepalived/hadeploy-webhook.curlrc ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/keepalived && cp -a /etc/keepalived/hadeploy-webhook.curlrc /var/backups/hadeploy/R1/files/etc/keepalived/hadeploy-webhook.curlrc && printf '%s %s %s\n' "$(sha256sum < /etc/keepalived/hadeploy-webhook.curlrc | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/keepalived/hadeploy-webhook.curlrc)" /etc/keepalived/hadeploy-webhook.curlrc >> "$R/manifest" && echo "file "/etc/keepalived/hadeploy-webhook.curlrc" backup" >> "$R/journal"; else echo "file "/etc/keepalived/hadeploy-webhook.curlrc" absent" >> "$R/journal"; fi
fi
sync /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 2>/dev/null; mv -f /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 /etc/keepalived/hadeploy-webhook.curlrc
mkdir -p /etc/keepalived
base64 -d > /etc/keepalived/.keepalived.conf.hadeploy-new3 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 640 /etc/keepalived/.keepalived.conf.hadeploy-new3 && chown root:root /etc/keepalived/.keepalived.conf.hadeploy-new3
if ! out=$(keepalived -t -f /etc/keepalived/.keepalived.conf.hadeploy-new3 2>&1); then rm -f /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 /etc/keepalived/.keepalived.conf.hadeploy-new3 /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5; echo "==fail validate /etc/keepalived/keepalived.conf"; printf '%s\n' "$out"; exit 10; fi
if [ ! -e /var/backups/hadeploy/R1/files/etc/keepalived/keepalived.conf ] && ! grep -qxF 'file /etc/keepalived/keepalived.conf absent' "$R/journal"; then
  if [ -e /etc/keepalived/keepalived.conf ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/keepalived && cp -a /etc/keepalived/keepalived.conf /var/backups/hadeploy/R1/files/etc/keepalived/keepalived.conf && printf '%s %s %s\n' "$(sha256sum < /etc/keepalived/keepalived.conf | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/keepalived/keepalived.conf)" /etc/keepalived/keepalived.conf >> "$R/manifest" && echo "file "/etc/keepalived/keepalived.conf" backup" >> "$R/journal"; else echo "file "/etc/keepalived/keepalived.conf" absent" >> "$R/journal"; fi
fi
sync /etc/keepalived/.keepalived.conf.hadeploy-new3 2>/dev/null; mv -f /etc/keepalived/.keepalived.conf.hadeploy-new3 /etc/keepalived/keepalived.conf
mkdir -p /usr/local/libexec/hadeploy
base64 -d > /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 755 /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 && chown root:root /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4
if ! out=$(bash -n /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 2>&1); then rm -f /usr/local/libexec/hadeploy/.check-haproxy.hadeploy-new0 /usr/local/libexec/hadeploy/.vrrp-notify.hadeploy-new1 /etc/keepalived/.hadeploy-webhook.curlrc.hadeploy-new2 /etc/keepalived/.keepalived.conf.hadeploy-new3 /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5; echo "==fail validate /usr/local/libexec/hadeploy/keepalived-handover"; printf '%s\n' "$out"; exit 10; fi
if [ ! -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/keepalived-handover ] && ! grep -qxF 'file /usr/local/libexec/hadeploy/keepalived-handover absent' "$R/journal"; then
  if [ -e /usr/local/libexec/hadeploy/keepalived-handover ]; then mkdir -p /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy && cp -a /usr/local/libexec/hadeploy/keepalived-handover /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/keepalived-handover && printf '%s %s %s\n' "$(sha256sum < /usr/local/libexec/hadeploy/keepalived-handover | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /usr/local/libexec/hadeploy/keepalived-handover)" /usr/local/libexec/hadeploy/keepalived-handover >> "$R/manifest" && echo "file "/usr/local/libexec/hadeploy/keepalived-handover" backup" >> "$R/journal"; else echo "file "/usr/local/libexec/hadeploy/keepalived-handover" absent" >> "$R/journal"; fi
fi
sync /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 2>/dev/null; mv -f /usr/local/libexec/hadeploy/.keepalived-handover.hadeploy-new4 /usr/local/libexec/hadeploy/keepalived-handover
mkdir -p /etc/systemd/system/keepalived.service.d
base64 -d > /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5 <<'HADEPLOY_EOF'
  [content elided]
HADEPLOY_EOF
chmod 644 /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5 && chown root:root /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5
if [ ! -e /var/backups/hadeploy/R1/files/etc/systemd/system/keepalived.service.d/10-hadeploy.conf ] && ! grep -qxF 'file /etc/systemd/system/keepalived.service.d/10-hadeploy.conf absent' "$R/journal"; then
  if [ -e /etc/systemd/system/keepalived.service.d/10-hadeploy.conf ]; then mkdir -p /var/backups/hadeploy/R1/files/etc/systemd/system/keepalived.service.d && cp -a /etc/systemd/system/keepalived.service.d/10-hadeploy.conf /var/backups/hadeploy/R1/files/etc/systemd/system/keepalived.service.d/10-hadeploy.conf && printf '%s %s %s\n' "$(sha256sum < /etc/systemd/system/keepalived.service.d/10-hadeploy.conf | cut -d' ' -f1)" "$(stat -c '%a %U:%G' /etc/systemd/system/keepalived.service.d/10-hadeploy.conf)" /etc/systemd/system/keepalived.service.d/10-hadeploy.conf >> "$R/manifest" && echo "file "/etc/systemd/system/keepalived.service.d/10-hadeploy.conf" backup" >> "$R/journal"; else echo "file "/etc/systemd/system/keepalived.service.d/10-hadeploy.conf" absent" >> "$R/journal"; fi
fi
sync /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5 2>/dev/null; mv -f /etc/systemd/system/keepalived.service.d/.10-hadeploy.conf.hadeploy-new5 /etc/systemd/system/keepalived.service.d/10-hadeploy.conf
echo "activate "c3lzdGVtY3RsIGRhZW1vbi1yZWxvYWQgJiYgbWtkaXIgLXAgL3Zhci9saWIvaGFkZXBsb3k= >> "$R/journal"
if ! out=$( { systemctl daemon-reload && mkdir -p /var/lib/hadeploy; } 2>&1); then
  if [ -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/check-haproxy ]; then cp -a /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/check-haproxy /usr/local/libexec/hadeploy/check-haproxy.hadeploy-restore && mv -f /usr/local/libexec/hadeploy/check-haproxy.hadeploy-restore /usr/local/libexec/hadeploy/check-haproxy; else rm -f /usr/local/libexec/hadeploy/check-haproxy; fi
  if [ -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/vrrp-notify ]; then cp -a /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/vrrp-notify /usr/local/libexec/hadeploy/vrrp-notify.hadeploy-restore && mv -f /usr/local/libexec/hadeploy/vrrp-notify.hadeploy-restore /usr/local/libexec/hadeploy/vrrp-notify; else rm -f /usr/local/libexec/hadeploy/vrrp-notify; fi
  if [ -e /var/backups/hadeploy/R1/files/etc/keepalived/hadeploy-webhook.curlrc ]; then cp -a /var/backups/hadeploy/R1/files/etc/keepalived/hadeploy-webhook.curlrc /etc/keepalived/hadeploy-webhook.curlrc.hadeploy-restore && mv -f /etc/keepalived/hadeploy-webhook.curlrc.hadeploy-restore /etc/keepalived/hadeploy-webhook.curlrc; else rm -f /etc/keepalived/hadeploy-webhook.curlrc; fi
  if [ -e /var/backups/hadeploy/R1/files/etc/keepalived/keepalived.conf ]; then cp -a /var/backups/hadeploy/R1/files/etc/keepalived/keepalived.conf /etc/keepalived/keepalived.conf.hadeploy-restore && mv -f /etc/keepalived/keepalived.conf.hadeploy-restore /etc/keepalived/keepalived.conf; else rm -f /etc/keepalived/keepalived.conf; fi
  if [ -e /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/keepalived-handover ]; then cp -a /var/backups/hadeploy/R1/files/usr/local/libexec/hadeploy/keepalived-handover /usr/local/libexec/hadeploy/keepalived-handover.hadeploy-restore && mv -f /usr/local/libexec/hadeploy/keepalived-handover.hadeploy-restore /usr/local/libexec/hadeploy/keepalived-handover; else rm -f /usr/local/libexec/hadeploy/keepalived-handover; fi
  if [ -e /var/backups/hadeploy/R1/files/etc/systemd/system/keepalived.service.d/10-hadeploy.conf ]; then cp -a /var/backups/hadeploy/R1/files/etc/systemd/system/keepalived.service.d/10-hadeploy.conf /etc/systemd/system/keepalived.service.d/10-hadeploy.conf.hadeploy-restore && mv -f /etc/systemd/system/keepalived.service.d/10-hadeploy.conf.hadeploy-restore /etc/systemd/system/keepalived.service.d/10-hadeploy.conf; else rm -f /etc/systemd/system/keepalived.service.d/10-hadeploy.conf; fi
  { systemctl daemon-reload && mkdir -p /var/lib/hadeploy; } >/dev/null 2>&1; echo "==fail activate"; printf '%s\n' "$out"; exit 13; fi
echo "service "keepalived" $(systemctl is-active keepalived 2>/dev/null | head -n1) $(systemctl is-enabled keepalived 2>/dev/null | head -n1)" >> "$R/journal"
systemctl enable -q keepalived 2>&1 || true
if ! out=$(systemctl start keepalived 2>&1); then echo "==fail service keepalived: systemctl start"; printf '%s\n' "$out"; systemctl status --no-pager -n 15 keepalived 2>&1 | tail -n 15; exit 12; fi
i=0; while ! { systemctl is-active -q keepalived; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail service keepalived: not serving after 10s"; systemctl status --no-pager -n 10 keepalived 2>&1 | tail -n 12;  exit 12; fi; sleep 0.25; done
echo "done "keepalived >> "$R/journal"
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
echo "service "cron" $(systemctl is-active cron 2>/dev/null | head -n1) $(systemctl is-enabled cron 2>/dev/null | head -n1)" >> "$R/journal"
systemctl enable -q cron 2>&1 || true
if ! out=$(systemctl start cron 2>&1); then echo "==fail service cron: systemctl start"; printf '%s\n' "$out"; systemctl status --no-pager -n 15 cron 2>&1 | tail -n 15; exit 12; fi
i=0; while ! { systemctl is-active -q cron; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail service timesync: not serving after 10s"; systemctl status --no-pager -n 10 cron 2>&1 | tail -n 12;  exit 12; fi; sleep 0.25; done
echo "done "timesync >> "$R/journal"
}
hadeploy_main


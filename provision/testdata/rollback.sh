hadeploy_main() {
rc=0
if [ -e /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg ]; then cp -a /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.hadeploy-restore && mv -f /etc/haproxy/haproxy.cfg.hadeploy-restore /etc/haproxy/haproxy.cfg || { echo "==fail restore /etc/haproxy/haproxy.cfg"; rc=1; }; else echo "==fail backup missing /var/backups/hadeploy/R1/files/etc/haproxy/haproxy.cfg"; rc=1; fi
rm -f /etc/keepalived/keepalived.conf
systemctl reload-or-restart haproxy >/dev/null 2>&1 || systemctl restart haproxy >/dev/null 2>&1 || { echo "==fail service haproxy"; rc=1; }
systemctl stop keepalived >/dev/null 2>&1 || true
systemctl disable -q keepalived >/dev/null 2>&1 || true
i=0; while ! { systemctl is-active -q haproxy; }; do i=$((i+1)); if [ $i -ge 40 ]; then echo "==fail services not active after rollback"; rc=1; break; fi; sleep 0.25; done
if [ $rc -eq 0 ]; then echo rolled-back > /var/backups/hadeploy/R1/status; echo "==rolledback"; else echo rollback-failed > /var/backups/hadeploy/R1/status; fi
exit $rc
}
hadeploy_main

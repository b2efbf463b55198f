hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
echo "pkg "haproxy >> /var/backups/hadeploy/R1/journal
echo "pkg "keepalived >> /var/backups/hadeploy/R1/journal
export DEBIAN_FRONTEND=noninteractive
out=$( { dpkg --configure -a && apt-get -q update && apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install haproxy keepalived; } 2>&1 ) || { echo "==fail packages"; printf '%s\n' "$out" | tail -n 20; exit 1; }
}
hadeploy_main

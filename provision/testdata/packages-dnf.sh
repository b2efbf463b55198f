hadeploy_main() {
if [ ! -d /var/backups/hadeploy/R1 ]; then mkdir -p /var/backups/hadeploy/R1/files && chmod 700 /var/backups/hadeploy/R1 && printf '%s\n' 'root@here cmd=apply' > /var/backups/hadeploy/R1/meta && echo running > /var/backups/hadeploy/R1/status; fi
echo "pkg "httpd >> /var/backups/hadeploy/R1/journal
echo "pkg "chrony >> /var/backups/hadeploy/R1/journal
out=$(dnf -y install httpd chrony 2>&1) || { echo "==fail packages"; printf '%s\n' "$out" | tail -n 20; exit 1; }
}
hadeploy_main

# Sourced by .ci/run (and usable by hand: `. .ci/nginx.sh`): makes an nginx
# from Debian's packages available to the test of docs/scaling.md's load
# balancer (cmd/wxflow/nginx_test.go) and exports WXFLOW_NGINX. It uses
# nginx from the PATH when there is one; otherwise it downloads Debian's
# package and unpacks it into $WXFLOW_NGINX_DIR (default /tmp/wxflow-nginx)
# without installing it: no service is started, and the test runs it as a
# process of its own with its own configuration. Idempotent.

wxflow_nginx_dir=${WXFLOW_NGINX_DIR:-/tmp/wxflow-nginx}
if command -v nginx >/dev/null 2>&1; then
  WXFLOW_NGINX=$(command -v nginx)
elif [ -x "$wxflow_nginx_dir/usr/sbin/nginx" ]; then
  WXFLOW_NGINX="$wxflow_nginx_dir/usr/sbin/nginx"
else
  wxflow_nginx_sudo=""
  if [ "$(id -u)" -ne 0 ]; then wxflow_nginx_sudo="sudo"; fi
  wxflow_nginx_tmp=$(mktemp -d)
  # apt-get download writes to the current folder; its sandbox user
  # must be able to write there.
  chmod 777 "$wxflow_nginx_tmp"
  if ! (cd "$wxflow_nginx_tmp" && apt-get download nginx >/dev/null 2>&1); then
    $wxflow_nginx_sudo apt-get update
    (cd "$wxflow_nginx_tmp" && apt-get download nginx)
  fi
  mkdir -p "$wxflow_nginx_dir"
  dpkg -x "$wxflow_nginx_tmp"/nginx_*.deb "$wxflow_nginx_dir"
  rm -rf "$wxflow_nginx_tmp"
  WXFLOW_NGINX="$wxflow_nginx_dir/usr/sbin/nginx"
fi
export WXFLOW_NGINX
"$WXFLOW_NGINX" -v

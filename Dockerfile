# ml-microservice: the model server image.
#
#   docker build -t ml-microservice:0.1.0 .
#   docker run --rm -p 8080:8080 ml-microservice:0.1.0                      # the models built in
#   docker run --rm -p 8080:8080 -v "$PWD/models:/app/models:ro" ml-microservice:0.1.0
#
# Stages: "build" compiles TypeScript with the dev dependencies; "prod-deps" installs the
# production dependencies; "runtime" gets only dist/, the production node_modules and models/,
# and runs as the unprivileged "node" user (uid 1000).
#
# Build argument:
#   WITH_TFJS_NODE=false  (default) TF.js on its WASM backend; nothing is downloaded but npm
#                         packages. This is the image CI builds and tests.
#   WITH_TFJS_NODE=true   also @tensorflow/tfjs-node, native TensorFlow (its install script
#                         downloads libtensorflow and a prebuilt addon from
#                         storage.googleapis.com). If that fails, so does the build, with one
#                         line saying why.
#
# glibc is required by tfjs-node's libtensorflow and onnxruntime-node: Debian, not Alpine. Node
# 24 is the LTS line; add @sha256:<digest> to the tags to pin the exact images as well.

FROM node:24.22.3-bookworm-slim AS base
WORKDIR /app
# Keep npm quiet and free of network calls other than the registry.
ENV NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false

# ---------------------------------------------------------------------------------------------
FROM base AS build
COPY package.json package-lock.json ./
# Compiling needs the packages' files, not their install scripts.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM base AS prod-deps
COPY package.json package-lock.json ./
# Production dependencies only, from the lockfile, without their install scripts: the ones in
# the production tree are an analytics ping (Scarf, under swagger-ui-dist) and
# onnxruntime-node's download of CUDA libraries, which a CPU image does not use.
RUN npm ci --omit=dev --omit=optional --ignore-scripts

ARG WITH_TFJS_NODE=false
# The optional dependencies are the native backend and the @tensorflow/tfjs it requires. Its
# install script's own output (long, with stack traces when the download fails) goes to a log;
# the build says in one line what happened.
RUN if [ "$WITH_TFJS_NODE" = "true" ]; then \
      npm ci --omit=dev --ignore-scripts >/dev/null \
      && if npm rebuild @tensorflow/tfjs-node --foreground-scripts >/tmp/tfjs-node.log 2>&1 \
           && node -e "require('@tensorflow/tfjs-node')" >>/tmp/tfjs-node.log 2>&1; then \
        echo "WITH_TFJS_NODE=true: @tensorflow/tfjs-node installed; TFJS_BACKEND=auto selects the native tensorflow backend"; \
      else \
        echo "WITH_TFJS_NODE=true: @tensorflow/tfjs-node could not be installed ($(grep -m1 -E '^[A-Za-z]*Error: ' /tmp/tfjs-node.log || tail -n1 /tmp/tfjs-node.log)); build without it for the WASM backend" >&2; \
        exit 1; \
      fi \
      && rm /tmp/tfjs-node.log; \
    fi

# onnxruntime-node ships its CPU library for every platform it supports (about 290 MB): only
# this image's is kept. Source maps are not read at run time (no --enable-source-maps).
RUN ort=node_modules/onnxruntime-node/bin/napi-v6 \
    && platform="$(node -p 'process.platform + "/" + process.arch')" \
    && for dir in "$ort"/*/*; do [ "$dir" = "$ort/$platform" ] || rm -rf "$dir"; done \
    && rmdir --ignore-fail-on-non-empty "$ort"/* \
    && node -e "require('onnxruntime-node')" \
    && find node_modules -name '*.map' -type f -delete \
    && npm cache clean --force

# ---------------------------------------------------------------------------------------------
FROM node:24.22.3-bookworm-slim AS runtime

# Signals: tini runs as PID 1 and forwards SIGTERM/SIGINT to Node, which handles them itself
# (enableShutdownHooks: readiness fails, SHUTDOWN_DELAY_MS, drain, models disposed, exit 0).
# Node as PID 1 would also receive SIGTERM once its handlers are registered, but PID 1 gets no
# default signal actions: a SIGTERM during start-up, before Nest installs its handlers, would be
# ignored until the runtime's SIGKILL; and nothing would reap zombies. tini (Debian's package)
# covers both, and works the same under Docker and Kubernetes (which has no --init).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    MODEL_REPOSITORY=/app/models \
    LOG_FORMAT=json

WORKDIR /app
# Everything belongs to root and is read-only for the service: it writes nothing at run time
# (the root filesystem can be mounted read-only).
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The shipped models, served as they are, or hidden by a repository mounted over /app/models
# (read-only is enough: `-v /srv/models:/app/models:ro`, a compose volume, a Kubernetes volume);
# new versions copied into a mounted folder are picked up by polling (MODEL_POLL_INTERVAL_MS).
# Not declared with VOLUME: that would create an anonymous volume on every plain `docker run`
# and freeze the shipped models into it.
COPY models ./models

USER node
EXPOSE 8080

# Liveness through Node itself (the image has no curl); PORT is read from the environment.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/live',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# Exec form: Node is tini's direct child, no shell or npm in between to swallow SIGTERM.
# Node's flags are those of `npm run start:prod` (bench/README.md measures both):
# - semi-spaces of at most 8 MiB: Node 24's V8 sizes the young generation from the machine's
#   memory when no size is given, and grew a replica to some 320 MiB of RSS under load; with 8 MiB,
#   13 MiB less RSS than with 16 and as many requests a second;
# - V8's idle-time collections without its memory-reducing mode, which would throw away the
#   optimized code of some 230 functions after each pause in traffic: the first seconds back
#   served two thirds of the requests, 0.90 with the flag (`npm run bench:after-idle`).
#   NODE_OPTIONS does not take this flag, so both are given here.
CMD ["node", "--max-semi-space-size=8", "--no-memory-reducer-favors-memory", "dist/main.js"]

# ml-microservice: the model server image.
#
#   docker build -t ml-microservice:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/models:/app/models:ro" ml-microservice:0.1.0
#
# Stages: "build" compiles TypeScript with the dev dependencies; "prod-deps" installs the
# production dependencies (and tries tfjs-node); "runtime" gets only dist/, the production
# node_modules and models/, and runs as the unprivileged "node" user (uid 1000).
#
# Build arguments:
#   WITH_TFJS_NODE=true   try @tensorflow/tfjs-node (native TensorFlow; its install script
#                         downloads libtensorflow, so the build needs network). If that fails,
#                         the image is still built and the service runs on WASM.
#   WITH_TFJS_NODE=false  WASM only: a smaller image, no download outside the npm registry.
#
# glibc is required by tfjs-node's libtensorflow: Debian (bookworm-slim), not Alpine.
# The tag pins Node to 20.20.2, the version the tests run on; add @sha256:<digest> to pin the
# exact image as well.

FROM node:20.20.2-bookworm-slim AS base
WORKDIR /app
# Keep npm quiet and free of network calls other than the registry.
ENV NPM_CONFIG_AUDIT=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false

# ---------------------------------------------------------------------------------------------
FROM base AS build
COPY package.json package-lock.json ./
# Install scripts are not needed to compile (and tfjs-node's would download libtensorflow for
# nothing here): the build only needs the packages' files.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM base AS prod-deps
ARG WITH_TFJS_NODE=true
COPY package.json package-lock.json ./
# Production dependencies only, from the lockfile. Scripts are skipped here (the only ones in
# the production tree are a banner, an analytics ping and tfjs-node's download), then
# tfjs-node's install script is run on its own, so that its failure is explicit and tolerated:
# - it succeeds and the module loads: TFJS_BACKEND=auto uses the native "tensorflow" backend;
# - it fails (no network, no prebuilt binary for this platform, e.g. arm64) or the module does
#   not load: the tree is reinstalled without optional dependencies, and the service runs on
#   WASM. The build does not fail either way.
RUN npm ci --omit=dev --ignore-scripts
RUN if [ "$WITH_TFJS_NODE" = "true" ] \
        && npm rebuild @tensorflow/tfjs-node --foreground-scripts \
        && node -e "require('@tensorflow/tfjs-node')"; then \
      echo "tfjs-node installed: TFJS_BACKEND=auto selects the native tensorflow backend"; \
    else \
      echo "tfjs-node not installed (WITH_TFJS_NODE=$WITH_TFJS_NODE or its install failed): the service runs on WASM"; \
      npm ci --omit=dev --omit=optional --ignore-scripts; \
    fi \
    && npm cache clean --force

# ---------------------------------------------------------------------------------------------
FROM node:20.20.2-bookworm-slim AS runtime

# Signals: tini runs as PID 1 and forwards SIGTERM/SIGINT to Node, which handles them itself
# (enableShutdownHooks: readiness fails, SHUTDOWN_DELAY_MS, drain, models disposed, exit 0).
# Node as PID 1 would also receive SIGTERM once its handlers are registered, but PID 1 gets no
# default signal actions: a SIGTERM during start-up, before Nest installs its handlers, would be
# ignored until the runtime's SIGKILL; and nothing would reap zombies. tini (Debian's package)
# covers both, and works the same under Docker and Kubernetes (which has no --init).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# NODE_OPTIONS: a young generation of 32 MiB semi-spaces (V8's default is 16) halves the
# scavenges of a request-heavy process; 4-6% more throughput for about 16 MiB of memory. The
# same flag as `npm start` and the benchmarks.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=32 \
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
# The shipped models. /app/models is meant to be mounted over (read-only is enough), e.g.
# `-v /srv/models:/app/models:ro`, a compose volume or a Kubernetes PersistentVolumeClaim; new
# versions copied into the mounted folder are picked up by polling (MODEL_POLL_INTERVAL_MS).
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
CMD ["node", "dist/main.js"]

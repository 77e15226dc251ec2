# syntax=docker/dockerfile:1
# artifact-serving: the redirector (and the promoter CLI) in one image.
#
#   docker build -t artifact-serving .
#   docker run --rm -p 8080:8080 artifact-serving                 # serves config/example.yaml
#   docker run --rm -p 8080:8080 -v "$PWD/config/compose:/etc/artifact-serving:ro" artifact-serving
#   docker run --rm -v "$PWD/my.yaml:/tmp/c.yaml:ro" artifact-serving validate /tmp/c.yaml
#
# The config is read from the directory /etc/artifact-serving: mount a directory there (a
# Kubernetes ConfigMap volume, a compose bind mount), not a single file, so that an update is a
# rename inside the watched directory and reaches the running server (see docs/deployment.md).
#
# Base: node:24-slim (Debian 12, glibc), not alpine: every production dependency is plain
# JavaScript (the GeoIP database is an .mmdb file in an npm package), so musl would save ~40 MB and
# buy nothing, while slim is the same Debian the tests and CI run on, with glibc's resolver
# (mirror host names are looked up through getaddrinfo) and Node's official glibc build.

# The base is a build argument: any glibc Debian image with node 24 and npm on PATH works, e.g. a
# registry mirror's copy, or a local debootstrap root plus Node (test/e2e/compose-stack-docker.test.ts):
#   docker build --build-arg NODE_IMAGE=registry.internal/library/node:24-slim -t artifact-serving .
ARG NODE_IMAGE=node:24-slim

# ---- build: all dependencies, compile TypeScript to dist/ ------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only ------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Everything under /app and /etc/artifact-serving stays owned by root and read-only to the
# server's user: the process needs to write nothing (logs go to stdout and stderr), so the
# container also runs with a read-only root file system.
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY config ./config
COPY config/example.yaml /etc/artifact-serving/config.yaml
# The image's "node" user, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:1000
EXPOSE 8080
# slim has no curl or wget: Node's own fetch asks /healthz (the server listens on 0.0.0.0).
# It assumes --port 8080; a container started with another --port needs its own health check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# Node runs as PID 1: `serve` handles SIGTERM and SIGINT itself (drains and exits) and SIGHUP
# (reloads the config), so no init wrapper is needed.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config", "/etc/artifact-serving/config.yaml", "--port", "8080"]

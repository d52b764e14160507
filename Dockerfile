# syntax=docker/dockerfile:1
# The Skiff image: one image for `skiff operator` and `skiff xds`; and with
# --target proxy, the sidecar image: `skiff agent sidecar`, which starts the
# pinned Envoy (hack/envoy/versions.env; bump the two together).
#
#   docker build -t ghcr.io/skiff-dev/skiff:$(node -p 'require("./package.json").version') .
#   docker build --target proxy -t ghcr.io/skiff-dev/skiff-proxy:$(node -p 'require("./package.json").version') .
#
# It runs as a numeric non-root user (the generated xDS Deployment sets
# runAsNonRoot without a runAsUser, which the kubelet can only check against a
# numeric USER) and writes nothing outside /tmp, so it works with a read-only
# root filesystem.

FROM node:20-bookworm-slim AS build
WORKDIR /skiff
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# As `make build` does: tsc does not copy the Envoy descriptor set.
RUN npx tsc -p tsconfig.build.json \
  && cp src/xds/protos/envoy.binpb dist/src/xds/protos/

FROM envoyproxy/envoy:v1.40.0 AS envoy

FROM node:20-bookworm-slim AS skiff
ENV NODE_ENV=production
WORKDIR /skiff
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /skiff/dist ./dist
USER 65532:65532
ENTRYPOINT ["node", "dist/src/cli/main.js"]

# The sidecar: skiff agent as the container's first process, Envoy its child.
# Sidecars run it as uid 1337 (the injector sets it; iptables exempts that uid).
FROM skiff AS proxy
COPY --from=envoy /usr/local/bin/envoy /usr/local/bin/envoy
ENV SKIFF_ENVOY_BINARY=/usr/local/bin/envoy
USER 1337:1337

# The default target stays the Skiff image.
FROM skiff

# syntax=docker/dockerfile:1
# The Skiff image: one image for `skiff operator` and `skiff xds`.
#
#   docker build -t ghcr.io/skiff-dev/skiff:$(node -p 'require("./package.json").version') .
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

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /skiff
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /skiff/dist ./dist
USER 65532:65532
ENTRYPOINT ["node", "dist/src/cli/main.js"]

# syntax=docker/dockerfile:1
# One image for every CLARA service; the command picks the app:
#   docker build -t clara .                                  (CPU; onnxruntime-node without the CUDA download)
#   docker build -t clara:cuda --build-arg CUDA=true \
#     --build-arg RUNTIME_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 .   (CUDA EP; runtime needs CUDA 12 + cuDNN 9)
#   docker run clara node apps/training/dist/main.js          (default), apps/training-worker/dist/main.js,
#             apps/datasets/dist/main.js, apps/serving/dist/main.js
ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
ARG CUDA=false
WORKDIR /app
# .npmrc skips onnxruntime-node's CUDA download (it needs the internet and 1+ GB); the CUDA build asks for it.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY . .
RUN if [ "$CUDA" = "true" ]; then export ONNXRUNTIME_NODE_INSTALL=cuda12; fi \
 && npm ci --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${RUNTIME_IMAGE} AS runtime
# A CUDA runtime image has no Node: bring the one from the build stage.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    CLARA_DATA_DIR=/data \
    CLARA_TRAINING_HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=1000:1000 /app/package.json /app/package-lock.json ./
COPY --from=build --chown=1000:1000 /app/node_modules ./node_modules
COPY --from=build --chown=1000:1000 /app/libs ./libs
COPY --from=build --chown=1000:1000 /app/apps ./apps
COPY --from=build --chown=1000:1000 /app/tools ./tools
RUN mkdir -p /data && chown 1000:1000 /data
VOLUME ["/data"]
USER 1000:1000
EXPOSE 45680 45681 45682
CMD ["node", "apps/training/dist/main.js"]

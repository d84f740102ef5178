# The controller image, on Node 24 (client-node 2.x needs it).
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY src ./src
COPY tsconfig.json tsconfig.build.json ./
# Compiled JavaScript rather than type stripping at start-up, which costs the controller ~25 MB.
RUN node_modules/.bin/tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24-slim
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532
ENTRYPOINT ["node", "dist/main.js"]

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
# The controller's live heap is ~25 MB at a hundred rollouts, but V8's default young generation
# (16 MB semi-spaces) commits ~60 MB more than that; 1 MB semi-spaces keep RSS near what is live
# for a little more scavenging. bench/rollouts.ts reads this line to run the controller alike.
ENV NODE_OPTIONS=--max-semi-space-size=1
ENTRYPOINT ["node", "dist/main.js"]

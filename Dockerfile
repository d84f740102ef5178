# The controller image, on Node 24 (client-node 2.x needs it).
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY src ./src
COPY tsconfig.json tsconfig.build.json ./

FROM node:24-slim
WORKDIR /app
COPY --from=build /app /app
USER 65532
ENTRYPOINT ["node", "src/main.ts"]

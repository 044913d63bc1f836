# hsmp-mtci. The build stage runs the commands .ci/run runs (npm ci, then the build that
# npm test starts with); no Docker engine runs in this project's CI, so that is what is tested.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    HSMP_DATA_DIR=/app/data \
    HSMP_DEV_PKI_DIR=/app/certs/dev
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY migrations ./migrations
COPY openapi ./openapi
COPY certs/peppol ./certs/peppol
RUN mkdir -p /app/data /app/certs/dev /app/certs/server && chown -R node:node /app/data /app/certs/dev
USER node
# The embedded database (when DATABASE_URL is unset) and a generated dev PKI live here.
VOLUME ["/app/data", "/app/certs/dev"]
EXPOSE 8443
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HSMP_ADMIN_PORT||9090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/src/main.js"]

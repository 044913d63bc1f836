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
# A production deployment only: with NODE_ENV=production a missing certificate, trust store or SML
# setting stops the start with one line naming it, never a development deployment.
ENV NODE_ENV=production \
    HSMP_DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY migrations ./migrations
COPY openapi ./openapi
COPY certs/peppol ./certs/peppol
RUN mkdir -p /app/data /app/certs/server /app/certs/smp && chown -R node:node /app/data
USER node
# The embedded database (when DATABASE_URL is unset) and a generated key-encryption key live here.
VOLUME ["/app/data"]
EXPOSE 8443
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HSMP_ADMIN_PORT||9090)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# node itself, not npm: it gets the supervisor's SIGTERM, finishes in-flight requests, logs
# "stopped" and exits 0 (npm would stand between them).
CMD ["node", "dist/src/main.js"]

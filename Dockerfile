# txnsq's container image: nsqd by default, any txnsq daemon or tool by
# naming it (see docs/deployment.rst).
#
#   docker build -t txnsq .
#   docker run -p 4150:4150 -p 4151:4151 -v nsqd-data:/data txnsq \
#       twistd -n --pidfile= nsqd --data-path=/data --broadcast-address=HOST
#   docker run -p 4160:4160 -p 4161:4161 txnsq twistd -n --pidfile= nsqlookupd
#   docker run -p 4171:4171 txnsq twistd -n --pidfile= nsqadmin --lookupd-http-address=HOST:4161
FROM python:3.11-slim

# Installed from this checkout (not from an index), so the image is the
# code it was built from.  twistd finds the nsqd/nsqlookupd/nsqadmin
# plugins through a cache that it cannot write as the unprivileged user
# below: it is built here.
COPY . /src/txnsq
RUN pip install --no-cache-dir /src/txnsq \
    && rm -rf /src/txnsq \
    && python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))" \
    && useradd --system --home-dir /data nsq \
    && mkdir -p /data \
    && chown nsq:nsq /data

USER nsq
WORKDIR /data
VOLUME /data
# nsqd TCP/HTTP, nsqlookupd TCP/HTTP, nsqadmin HTTP.
EXPOSE 4150 4151 4160 4161 4171

# -n: in the foreground (the container's main process); --pidfile=: none.
# SIGTERM (docker stop) makes nsqd write what it holds in memory to /data.
STOPSIGNAL SIGTERM
CMD ["twistd", "-n", "--pidfile=", "nsqd", "--data-path=/data"]

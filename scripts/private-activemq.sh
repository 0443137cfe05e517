#!/usr/bin/env bash
# Runs a private ActiveMQ Classic broker (Debian's `activemq` package) in the foreground, for the demo:
# its own directory, persistent, STOMP only, on 127.0.0.1:PORT. SIGTERM stops it (the JVM shuts down cleanly).
#   scripts/private-activemq.sh DIR PORT
# Runs java directly, like test/helpers/activemq.ts: /usr/bin/activemq switches to the `activemq` user
# and can hang forever on a data directory it cannot write (see SERVICES.md).
set -euo pipefail

ACTIVEMQ_HOME=/usr/share/activemq
ACTIVEMQ_JAR=$ACTIVEMQ_HOME/bin/activemq.jar

if [ $# -ne 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 DIR PORT" >&2
  exit 2
fi
dir=$1 port=$2
if [ ! -f "$ACTIVEMQ_JAR" ] || ! command -v java >/dev/null 2>&1; then
  echo "private-activemq: ActiveMQ is missing ($ACTIVEMQ_JAR and java are needed) — install it (as root): apt-get install -y --no-install-recommends activemq" >&2
  exit 1
fi

mkdir -p "$dir/conf" "$dir/data"
dir=$(cd "$dir" && pwd)
xml_attr() { sed -e 's/&/\&amp;/g' -e 's/"/\&quot;/g' -e 's/</\&lt;/g' <<<"$1"; }

# Debian's build logs through log4j 1.2; <base>/conf is on the classpath, so this file is picked up.
cat >"$dir/conf/log4j.properties" <<'LOG4J'
log4j.rootLogger=WARN, console
log4j.logger.org.apache.activemq.broker.BrokerService=INFO
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
LOG4J

cat >"$dir/conf/activemq.xml" <<XML
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="demo" useJmx="false"
          persistent="true" schedulerSupport="false" advisorySupport="false" dataDirectory="$(xml_attr "$dir/data")">
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
        <storeUsage><storeUsage limit="1 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:$port"/>
    </transportConnectors>
  </broker>
</beans>
XML

cd "$dir"
exec java -Xms64m -Xmx256m -Djava.awt.headless=true \
  -Dactivemq.home="$ACTIVEMQ_HOME" -Dactivemq.base="$dir" -Dactivemq.conf="$dir/conf" -Dactivemq.data="$dir/data" \
  -jar "$ACTIVEMQ_JAR" start "xbean:file:$dir/conf/activemq.xml"

// The ZooKeeper side of bench:compare's failover probe (src/bench/failover.ts); the zab side is
// src/bench/zab-failover-probe.ts, which speaks the same protocol. Compiled on demand by
// src/bench/zk-anchor.ts with javac against /usr/share/java/zookeeper.jar.
//
//   java -cp <classes>:<zookeeper client jars> ZkFailoverProbe --servers h:p,h:p --session-timeout 30000 --size 100
//
// One session (the stock Java client, so a connection that hears nothing for 2/3 of the session timeout
// is dropped and the client moves to another server: it fails over from a frozen leader too), one
// writer thread with one synchronous setData(version -1) in flight; a failed write is re-issued after 1 ms.
// stdout protocol, one line each:
//   -> "ready <negotiated session timeout ms> <server connected to>"   once connected and the znode exists
//   <- "mark <epoch ms>"      the instant the orchestrator signals the leader
//   -> "resumed <epoch ms>"   the first successful write completed more than 50 ms after the mark
//   <- "report"               -> one JSON line, then exit: ok_ms = completion times of the successful writes
//                                from 1 s before the mark on, in ms relative to the mark
import org.apache.zookeeper.*;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.*;
import java.util.regex.*;

public class ZkFailoverProbe {
  static double nowMs() {
    Instant i = Instant.now();
    return i.getEpochSecond() * 1000.0 + i.getNano() / 1e6;
  }

  static String server(ZooKeeper zk) {
    Matcher m = Pattern.compile("remoteserver:[^/]*/([0-9.]+:\\d+)").matcher(zk.toString());
    return m.find() ? m.group(1) : "?";
  }

  static volatile double mark = Double.NaN;
  static volatile boolean stop = false;
  static final List<Double> ok = new ArrayList<>();
  static final Map<String, Integer> errKinds = new TreeMap<>();
  static int errAfter = 0;

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>();
    a.put("servers", "127.0.0.1:2181"); a.put("session-timeout", "30000"); a.put("size", "100"); a.put("path", "/failover");
    for (int i = 0; i < args.length; i += 2) {
      String k = args[i].replaceFirst("^--", "");
      if (!a.containsKey(k)) throw new IllegalArgumentException("unknown option --" + k);
      a.put(k, args[i + 1]);
    }
    final String path = a.get("path");
    final byte[] value = new byte[Integer.parseInt(a.get("size"))];
    Arrays.fill(value, (byte) 'b');
    final Object connected = new Object();
    final boolean[] up = {false};
    ZooKeeper zk = new ZooKeeper(a.get("servers"), Integer.parseInt(a.get("session-timeout")), e -> {
      if (e.getState() == Watcher.Event.KeeperState.SyncConnected) synchronized (connected) { up[0] = true; connected.notifyAll(); }
    });
    synchronized (connected) {
      long dl = System.currentTimeMillis() + 30000;
      while (!up[0] && System.currentTimeMillis() < dl) connected.wait(100);
    }
    if (!up[0]) { System.err.println("ZkFailoverProbe: could not connect to " + a.get("servers")); System.exit(2); }
    try { zk.create(path, value, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT); } catch (KeeperException.NodeExistsException e) { }
    zk.setData(path, value, -1);
    System.out.println("ready " + zk.getSessionTimeout() + " " + server(zk));
    System.out.flush();

    Thread writer = new Thread(() -> {
      boolean resumedSaid = false;
      while (!stop) {
        try {
          zk.setData(path, value, -1);
          double t = nowMs();
          synchronized (ok) { ok.add(t); }
          double m = mark;
          if (!resumedSaid && !Double.isNaN(m) && t - m > 50) {
            resumedSaid = true;
            synchronized (System.out) { System.out.println("resumed " + t); System.out.flush(); }
          }
        } catch (KeeperException e) {
          if (!Double.isNaN(mark)) synchronized (errKinds) { errAfter++; errKinds.merge(e.code().name(), 1, Integer::sum); }
          try { Thread.sleep(1); } catch (InterruptedException ie) { return; }
        } catch (InterruptedException e) {
          return;
        }
      }
    });
    writer.setDaemon(true);
    writer.start();

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      line = line.trim();
      if (line.startsWith("mark ")) {
        mark = Double.parseDouble(line.substring(5).trim());
      } else if (line.equals("report")) {
        break;
      }
    }
    stop = true;
    double m = mark;
    StringBuilder sb = new StringBuilder("{\"ok_ms\":[");
    synchronized (ok) {
      boolean first = true;
      for (double t : ok) {
        if (Double.isNaN(m) || t < m - 1000) continue;
        if (!first) sb.append(',');
        first = false;
        sb.append(String.format(Locale.ROOT, "%.2f", t - m));
      }
      sb.append("],\"writes_ok\":").append(ok.size());
    }
    synchronized (errKinds) {
      sb.append(",\"errors_after_mark\":").append(errAfter).append(",\"error_kinds\":{");
      boolean first = true;
      for (Map.Entry<String, Integer> e : errKinds.entrySet()) {
        if (!first) sb.append(',');
        first = false;
        sb.append('"').append(e.getKey()).append("\":").append(e.getValue());
      }
    }
    sb.append("},\"session_timeout_ms\":").append(zk.getSessionTimeout()).append(",\"server_at_end\":\"").append(server(zk)).append("\"}");
    synchronized (System.out) { System.out.println(sb); System.out.flush(); }
    try { zk.close(500); } catch (Exception e) { }
    System.exit(0);
  }
}

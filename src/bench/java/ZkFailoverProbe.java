// The ZooKeeper side of bench:compare's failover probe (src/bench/failover.ts); the zab side is
// src/bench/zab-failover-probe.ts, which speaks the same protocol. Compiled on demand by
// src/bench/zk-anchor.ts with javac against /usr/share/java/zookeeper.jar.
//
//   java -cp <classes>:<zookeeper client jars> ZkFailoverProbe --servers h:p,h:p --session-timeout 30000 --size 100 [--ordered yes]
//
// --ordered yes: try the servers in the order given (the first one first) instead of the stock client's
// random order: a HostProvider like StaticHostProvider without the shuffle.
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
import org.apache.zookeeper.client.HostProvider;
import java.io.*;
import java.net.InetSocketAddress;
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

  /** StaticHostProvider's behaviour (sleep spinDelay after a full round without a connection), without the shuffle. */
  static class InOrderHostProvider implements HostProvider {
    final List<InetSocketAddress> hosts = new ArrayList<>();
    int next = 0, sinceConnected = 0;
    InOrderHostProvider(String servers) {
      for (String hp : servers.split(",")) {
        String[] x = hp.trim().split(":");
        hosts.add(InetSocketAddress.createUnresolved(x[0], Integer.parseInt(x[1])));
      }
    }
    public int size() { return hosts.size(); }
    public synchronized InetSocketAddress next(long spinDelay) {
      if (sinceConnected >= hosts.size() && spinDelay > 0) {
        try { Thread.sleep(spinDelay); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
        sinceConnected = 0;
      }
      sinceConnected++;
      InetSocketAddress a = hosts.get(next);
      next = (next + 1) % hosts.size();
      return new InetSocketAddress(a.getHostString(), a.getPort());
    }
    public synchronized void onConnected() { sinceConnected = 0; }
    public boolean updateServerList(Collection<InetSocketAddress> s, InetSocketAddress cur) { return false; }
  }

  static volatile double mark = Double.NaN;
  static volatile boolean stop = false;
  static final List<Double> ok = new ArrayList<>();
  static final Map<String, Integer> errKinds = new TreeMap<>();
  static int errAfter = 0;

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>();
    a.put("servers", "127.0.0.1:2181"); a.put("session-timeout", "30000"); a.put("size", "100"); a.put("path", "/failover"); a.put("ordered", "no");
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
    Watcher w = e -> {
      if (e.getState() == Watcher.Event.KeeperState.SyncConnected) synchronized (connected) { up[0] = true; connected.notifyAll(); }
    };
    int st = Integer.parseInt(a.get("session-timeout"));
    ZooKeeper zk = a.get("ordered").equals("yes")
        ? new ZooKeeper(a.get("servers"), st, w, false, new InOrderHostProvider(a.get("servers")))
        : new ZooKeeper(a.get("servers"), st, w);
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

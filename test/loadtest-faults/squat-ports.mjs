// Fault for the load-test harness's tests (`node --import`): the first SQUAT_PORTS ports (default 1)
// that a server in this process lets go of are taken at once by another listener, as another
// process on a busy machine may take a port between the harness choosing it and workerd binding it.
import net from "node:net";

let left = Number(process.env.SQUAT_PORTS ?? 1);
const close = net.Server.prototype.close;
net.Server.prototype.close = function squatAfterClose(callback) {
  const address = this.address();
  if (left <= 0 || !address || typeof address === "string") return close.call(this, callback);
  left--;
  return close.call(this, (...args) => {
    const squatter = net.createServer();
    squatter.unref();
    squatter.listen(address.port, address.address, () => {
      process.stderr.write(`[squat] took ${address.address}:${address.port}\n`);
      callback?.(...args);
    });
  });
};

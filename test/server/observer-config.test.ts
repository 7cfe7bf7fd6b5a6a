import { describe, expect, it } from 'vitest';
import { parseZooCfg } from '../../src/config/index.js';
import { ServerStartError, ZabServer } from '../../src/server/server.js';

describe('observers', () => {
  it('a server configured as an observer is refused with advice, not left looking forever', () => {
    const config = parseZooCfg(
      [
        'tickTime=200',
        'initLimit=10',
        'syncLimit=5',
        'dataDir=/tmp/zab-observer-test',
        'server.1=127.0.0.1:39001:39101',
        'server.2=127.0.0.1:39002:39102',
        'server.3=127.0.0.1:39003:39103',
        'server.4=127.0.0.1:39004:39104:observer',
      ].join('\n'),
    );
    expect(() => new ZabServer({ config, id: 4 })).toThrow(ServerStartError);
    expect(() => new ZabServer({ config, id: 4 })).toThrow(/observer.*weight\.4=0/);
  });
});

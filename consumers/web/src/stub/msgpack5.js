// Stands in for msgpack5: the dashboard speaks JSON only.
module.exports = function () {
  return {
    encode() { throw new Error('msgpack is not bundled'); },
    decode() { throw new Error('msgpack is not bundled'); },
  };
};

// Stands in for cbor: the dashboard speaks JSON only.
module.exports = {};

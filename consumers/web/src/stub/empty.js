// Stands in for a Node-only module the browser bundle never uses.
module.exports = {};

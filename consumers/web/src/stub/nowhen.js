// Makes autobahn's optional `require('when')` fail so that it uses native
// promises, as it does when the package is not installed.
throw new Error('when is not bundled');

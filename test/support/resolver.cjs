// Sources import './x.js' (NodeNext style); the file on disk is x.ts. Resolve
// as usual first (packages keep their own .js files), then try the .ts file.
module.exports = (request, options) => {
  try {
    return options.defaultResolver(request, options);
  } catch (error) {
    if (request.startsWith('.') && request.endsWith('.js')) {
      return options.defaultResolver(`${request.slice(0, -3)}.ts`, options);
    }
    throw error;
  }
};

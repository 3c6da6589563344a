// safe-install's yarn plugin (generated; loaded from the sandbox's private ~/.yarnrc.yml).
// Every script yarn runs for a package (dependency builds, the project's own scripts) goes
// through safe-install's script shell, which puts it at trust level 2, instead of yarn's
// in-process shell. It declares the setting `safeInstallLevel2`, which safe-install sets in
// yarn's environment: yarn refuses an unknown setting from the environment, so without this
// plugin loaded yarn does not start at all (fail closed).
const SHIM = __SHIM__;

function quote(arg) {
  return `'${String(arg).replace(/'/g, `'\\''`)}'`;
}

module.exports = {
  name: `safe-install-level2`,
  factory: require => {
    const {execUtils} = require(`@yarnpkg/core`);
    return {
      configuration: {
        safeInstallLevel2: {
          description: `Set by safe-install: package scripts run through its script shell`,
          type: `BOOLEAN`,
          default: false,
        },
      },
      hooks: {
        wrapScriptExecution(executor, project, locator, scriptName, extra) {
          return async () => {
            const command = [extra.script, ...extra.args.map(quote)].join(` `);
            const {code} = await execUtils.pipevp(SHIM, [`-c`, command], {
              cwd: extra.cwd,
              env: extra.env,
              stdin: extra.stdin,
              stdout: extra.stdout,
              stderr: extra.stderr,
            });
            return code;
          };
        },
      },
    };
  },
};

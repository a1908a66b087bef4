using ParNet.Cli;

// `parnet <command> [options]`: every class deriving from CliCommand in this assembly is a command.
var (stdout, stderr) = (new StandardStream(Console.Out), new StandardStream(Console.Error));
if (CommandRunner.CurrentFolderGone(stderr)) return CommandRunner.UsageExitCode;
ParNet.Runtime.NativeSetup.Configure();   // before any command touches libtorch
return CommandRunner.Run(args, stdout, stderr);

using ParNet.Cli;

// `parnet <command> [options]`: every class deriving from CliCommand in this assembly is a command.
ParNet.Runtime.NativeSetup.Configure();   // before any command touches libtorch
return CommandRunner.Run(args, Console.Out, Console.Error);

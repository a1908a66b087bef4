using ParNet.Cli;

// `parnet <command> [options]`: every class implementing ICommand in this assembly is a command.
return CommandRunner.Run(args, Console.Out, Console.Error);

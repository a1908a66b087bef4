using ParNet.Fuzz;
using ParNet.Runtime;
using SharpFuzz;

// parnet-fuzz TARGET                   run under afl-fuzz (input on stdin; an exception that is not the reader's documented
//                                      rejection is reported to AFL as a crash)
// parnet-fuzz TARGET --replay PATH...  run files or folders of inputs (e.g. AFL's crashes/), print what each does; exit 1 on any finding
// parnet-fuzz seeds DIR FIXTURES       write the seed corpus, one folder per target
NativeSetup.Configure();
if (args is ["seeds", var seedDir, var fixtures])
{
    Seeds.Write(seedDir, fixtures);
    return 0;
}
if (args.Length == 0 || !FuzzTargets.All.ContainsKey(args[0]))
{
    Console.Error.WriteLine($"usage: parnet-fuzz TARGET [--replay PATH...] | parnet-fuzz seeds DIR FIXTURES; targets: {string.Join(", ", FuzzTargets.All.Keys)}");
    return 2;
}
string target = args[0];
string scratchDir = Directory.CreateTempSubdirectory($"parnet-fuzz-{target}-").FullName;
string scratch = Path.Combine(scratchDir, "fuzz-input");
if (args.Length > 1 && args[1] == "--replay")
{
    int findings = 0, inputs = 0;
    foreach (var file in args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p).Order(StringComparer.Ordinal).ToArray() : new[] { p }))
    {
        if (Path.GetFileName(file) == "README.txt") continue;   // AFL's note in crashes/
        inputs++;
        var e = FuzzTargets.RunOne(target, File.ReadAllBytes(file), scratch);
        if (e is null) continue;
        findings++;
        Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
    }
    Console.WriteLine($"{target}: {inputs} inputs, {findings} findings");
    return findings == 0 ? 0 : 1;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    if (FuzzTargets.RunOne(target, buffer.ToArray(), scratch) is { } e)
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();   // with its stack trace, for triage
});
return 0;

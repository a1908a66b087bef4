using System.Reflection;
using System.Reflection.Emit;

namespace ParNet.Tests.Architecture;

/// <summary>
/// Every type a type refers to: its base type and interfaces, the types of its fields, properties, method
/// signatures and locals, and every type, method or field named in its method bodies' IL. Reading the IL
/// is what catches a fully qualified name (`Training.TrainingState.FromJson`) that no using directive shows.
/// Not seen: constants (`const` fields), which the compiler copies into the IL as values.
/// </summary>
public static class TypeReferences
{
    const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
                                  | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>IL opcodes by value (one- and two-byte), to walk method bodies operand by operand.</summary>
    static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    public static IEnumerable<Type> Of(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null) return;
            if (t.HasElementType) { Add(t.GetElementType()); return; }
            if (!found.Add(t)) return;
            if (t.IsGenericType && !t.IsGenericTypeDefinition) foreach (var a in t.GetGenericArguments()) Add(a);
        }

        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        foreach (var f in type.GetFields(Declared)) Add(f.FieldType);
        foreach (var p in type.GetProperties(Declared)) Add(p.PropertyType);
        foreach (var e in type.GetEvents(Declared)) Add(e.EventHandlerType);
        foreach (var m in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (m is MethodInfo mi) Add(mi.ReturnType);
            foreach (var p in m.GetParameters()) Add(p.ParameterType);
            var body = m.GetMethodBody();
            if (body is null) continue;
            foreach (var local in body.LocalVariables) Add(local.LocalType);
            foreach (var member in ReferencedMembers(m, body.GetILAsByteArray()!)) Add(member);
        }
        found.Remove(type);
        return found;
    }

    /// <summary>The declaring types of the members, and the types, that a method body's tokens name.</summary>
    static IEnumerable<Type> ReferencedMembers(MethodBase method, byte[] il)
    {
        var module = method.Module;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            var op = OpCodesByValue[value];
            i += op.Size;
            int operandSize = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok)
            {
                MemberInfo? member = null;
                try { member = module.ResolveMember(BitConverter.ToInt32(il, i), typeArgs, methodArgs); }
                catch (ArgumentException) { }   // a token of a generic context we cannot reconstruct: its types are in the signatures
                switch (member)
                {
                    case Type t: yield return t; break;
                    case FieldInfo f: if (f.DeclaringType is { } fd) yield return fd; yield return f.FieldType; break;
                    case MethodBase m:
                        if (m.DeclaringType is { } md) yield return md;
                        if (m is MethodInfo mi) yield return mi.ReturnType;
                        foreach (var p in m.GetParameters()) yield return p.ParameterType;
                        break;
                }
            }
            i += operandSize;
        }
    }
}

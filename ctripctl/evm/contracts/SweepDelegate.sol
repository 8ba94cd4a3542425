// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// ctripctl's EIP-7702 sweep delegate: lets ONE sponsor move a deposit's token balance to
/// ONE treasury, for many deposits in one transaction, without the deposits holding gas.
///
/// Security argument (read it with the code below, which is all there is):
/// 1. Who: `sweep` runs only when the caller is SPONSOR (the gas tank) or this deployed
///    contract itself (which only `sweepMany` calls, and `sweepMany` only for SPONSOR).
///    Nobody else can make a delegated deposit move anything.
/// 2. Where: tokens go to TREASURY only. SPONSOR and TREASURY are immutables: they are part
///    of the code every delegated deposit runs, fixed when ctripctl deploys it, and no call
///    argument names a recipient. A new treasury means a new delegate, not a new argument.
/// 3. What: only `transfer(TREASURY, amount)` of the token named, for the amount the
///    sponsor names — ctripctl names the confirmed balance it planned, so money that
///    arrived since (not yet deep) stays where it is. No ETH leaves, no approval is
///    granted, no storage is written (delegated EOAs share their storage with whatever
///    code they point at later), no call forwards arbitrary data.
/// 4. Receiving: `receive` and `fallback` accept ETH and any other call while the
///    delegation lasts (ERC-20 transfers do not call the recipient at all).
/// 5. The deposit's own key still controls the address (7702 keeps the EOA). ctripctl
///    CLEARS each delegation in the next pass (an authorization to address 0): while an
///    address has code, a plain 21,000-gas ETH transfer to it runs out of gas, and wallets
///    and exchanges send exactly that. A lingering delegation could only pay the
///    treasury on the sponsor's word (1-3).
/// 6. One failing token does not undo the others: `sweepMany` calls each deposit on its
///    own and reports a failure as an event; ctripctl reads what moved from the token's
///    Transfer logs in the receipt (a token that returns false, or takes a fee, is judged
///    by what actually reached the treasury).
contract SweepDelegate {
    address public immutable SPONSOR;
    address public immutable TREASURY;
    address private immutable SELF;

    event SweepFailed(address indexed deposit, address indexed token);

    constructor(address sponsor, address treasury) {
        SPONSOR = sponsor;
        TREASURY = treasury;
        SELF = address(this);
    }

    /// Runs in a deposit's context (through its delegation): pay `amount` of `token` to
    /// TREASURY (reverts if the token does not move it).
    function sweep(address token, uint256 amount) external returns (bool) {
        require(msg.sender == SPONSOR || msg.sender == SELF, "not the sponsor");
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20.transfer, (TREASURY, amount)));
        require(ok && (ret.length == 0 || abi.decode(ret, (bool))), "transfer failed");
        return true;
    }

    /// Runs at the deployed address, sent by SPONSOR: sweep `amounts[i]` of `tokens[i]`
    /// from each `deposits[i]`; one failure is reported and does not undo the others.
    function sweepMany(address[] calldata deposits, address[] calldata tokens, uint256[] calldata amounts)
        external
    {
        require(msg.sender == SPONSOR, "not the sponsor");
        require(deposits.length == tokens.length && tokens.length == amounts.length, "length mismatch");
        for (uint256 i = 0; i < deposits.length; i++) {
            (bool ok, bytes memory ret) = deposits[i].call(abi.encodeCall(this.sweep, (tokens[i], amounts[i])));
            if (!ok || ret.length != 32) emit SweepFailed(deposits[i], tokens[i]);
        }
    }

    receive() external payable {}

    fallback() external payable {}
}

interface IERC20 {
    function balanceOf(address owner) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}
